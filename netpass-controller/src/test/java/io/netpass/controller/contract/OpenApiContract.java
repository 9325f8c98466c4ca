package io.netpass.controller.contract;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import org.jspecify.annotations.Nullable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * An OpenAPI 3.1 contract, checkable against a running service: the operations it declares (to compare with the
 * handler mappings the service serves) and the responses it allows (status, media type, and the body validated
 * against the declared JSON Schema, draft 2020-12). Nothing here is specific to the controller: the agent can use
 * it with openapi/netpass-agent.yaml.
 */
public final class OpenApiContract {

    /** One operation: an upper-case HTTP method and a path template such as {@code /v1/migrations/{migrationId}}. */
    public record Operation(String method, String path) {
    }

    private record Template(String path, Pattern pattern, int variables) {
    }

    private final JsonNode document;
    private final Set<Operation> operations;
    private final List<Template> templates;
    private final SchemaRegistry schemas = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
    private final Map<String, Schema> compiled = new ConcurrentHashMap<>();
    private final JsonMapper json = JsonMapper.builder().build();

    private OpenApiContract(JsonNode document, Set<Operation> operations) {
        this.document = document;
        this.operations = operations;
        this.templates = operations.stream().map(Operation::path).distinct()
                .map(path -> new Template(path, Pattern.compile("^" + path.replaceAll("\\{[^/}]+}", "[^/]+") + "$"),
                        path.split("\\{", -1).length - 1))
                // Literal segments win over variables, as in Spring's matching.
                .sorted(Comparator.comparingInt(Template::variables))
                .toList();
    }

    /** Parses the contract; fails if swagger-parser finds it invalid. */
    public static OpenApiContract load(Path yaml) throws IOException {
        SwaggerParseResult result = new OpenAPIV3Parser().readContents(Files.readString(yaml), null, null);
        if (result.getOpenAPI() == null || (result.getMessages() != null && !result.getMessages().isEmpty())) {
            throw new IllegalArgumentException("invalid OpenAPI document " + yaml + ": " + result.getMessages());
        }
        OpenAPI api = result.getOpenAPI();
        Set<Operation> operations = new LinkedHashSet<>();
        api.getPaths().forEach((path, item) -> item.readOperationsMap().keySet()
                .forEach(method -> operations.add(new Operation(method.name(), path))));
        JsonNode document = YAMLMapper.builder().build().readTree(Files.readString(yaml));
        return new OpenApiContract(document, Set.copyOf(operations));
    }

    /** Finds the file by walking up from the working directory (a module or the repository root). */
    public static Path find(String relative) {
        Path directory = Path.of("").toAbsolutePath();
        while (directory != null) {
            Path candidate = directory.resolve(relative);
            if (Files.exists(candidate)) {
                return candidate;
            }
            directory = directory.getParent();
        }
        throw new IllegalStateException(relative + " not found above " + Path.of("").toAbsolutePath());
    }

    public Set<Operation> operations() {
        return operations;
    }

    /**
     * What is wrong with a response, if anything: a path or status the contract does not declare, a media type it
     * does not allow, or a body its schema rejects. An undeclared path must still answer with a valid Problem.
     */
    public List<String> check(String method, String requestPath, int status, @Nullable String contentType,
            @Nullable String body) {
        String path = requestPath.contains("?") ? requestPath.substring(0, requestPath.indexOf('?')) : requestPath;
        String what = method + " " + path + " -> " + status;
        List<String> violations = new ArrayList<>();
        String template = templates.stream().filter(t -> t.pattern().matcher(path).matches()).map(Template::path)
                .findFirst().orElse(null);
        JsonNode response = null;
        if (template != null) {
            JsonNode responses = document.path("paths").path(template).path(method.toLowerCase(Locale.ROOT))
                    .path("responses");
            response = responses.has(Integer.toString(status)) ? responses.get(Integer.toString(status))
                    : responses.get("default");
        }
        if (response == null && status >= 400) {
            // Unknown paths and methods the framework rejects: still RFC 9457 problems.
            response = document.path("components").path("responses").path("Problem");
        }
        if (response == null) {
            violations.add(what + ": status not in the contract");
            return violations;
        }
        response = resolve(response);
        JsonNode content = response.get("content");
        boolean emptyBody = body == null || body.isEmpty();
        if (content == null || content.isEmpty()) {
            if (!emptyBody) {
                violations.add(what + ": the contract declares no body, got " + contentType);
            }
            return violations;
        }
        String mediaType = contentType == null ? "" : contentType.split(";")[0].strip().toLowerCase(Locale.ROOT);
        JsonNode declared = content.get(mediaType);
        if (declared == null) {
            violations.add(what + ": media type '" + mediaType + "' not in " + content.propertyNames());
            return violations;
        }
        if (!mediaType.endsWith("json")) {
            return violations; // event streams and other formats: media type only
        }
        if (emptyBody) {
            violations.add(what + ": empty body");
            return violations;
        }
        String key = template + " " + method + " " + status + " " + mediaType;
        Schema schema = compiled.computeIfAbsent(key, ignored -> compile(declared.get("schema")));
        for (Error error : schema.validate(json.readTree(body))) {
            violations.add(what + ": " + error.getInstanceLocation() + " " + error.getMessage());
        }
        return violations;
    }

    /** Validates a JSON value against one of {@code components.schemas}. */
    public List<String> checkSchema(String schemaName, String jsonValue) {
        ObjectNode reference = json.createObjectNode().put("$ref", "#/components/schemas/" + schemaName);
        Schema schema = compiled.computeIfAbsent("schema " + schemaName, ignored -> compile(reference));
        return schema.validate(json.readTree(jsonValue)).stream()
                .map(error -> schemaName + ": " + error.getInstanceLocation() + " " + error.getMessage()).toList();
    }

    private JsonNode resolve(JsonNode node) {
        JsonNode reference = node.get("$ref");
        if (reference == null) {
            return node;
        }
        return resolve(document.at(reference.asString().substring(1)));
    }

    /** The schema with the document's components beside it, so {@code #/components/schemas/...} references resolve. */
    private Schema compile(JsonNode schemaNode) {
        ObjectNode root = json.createObjectNode();
        root.put("$schema", "https://json-schema.org/draft/2020-12/schema");
        root.set("components", document.get("components"));
        schemaNode.properties().forEach(field -> root.set(field.getKey(), field.getValue()));
        return schemas.getSchema(root);
    }

    /** The path templates the contract declares. */
    public Set<String> paths() {
        Set<String> paths = new LinkedHashSet<>();
        operations.forEach(operation -> paths.add(operation.path()));
        return paths;
    }
}
