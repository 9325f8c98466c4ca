package io.netpass.agent.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

import org.jspecify.annotations.Nullable;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SchemaRegistryConfig;
import com.networknt.schema.SpecificationVersion;

import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.Operation;
import io.swagger.v3.parser.OpenAPIV3Parser;
import io.swagger.v3.parser.core.models.ParseOptions;
import io.swagger.v3.parser.core.models.SwaggerParseResult;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

/**
 * The agent's contract, {@code openapi/netpass-agent.yaml}: parsed with swagger-parser for its operations, and its
 * response schemas applied (as JSON Schema 2020-12, which OpenAPI 3.1 schemas are) to the bodies the agent really
 * answers. {@link AgentApi} checks every response it receives here, so every IT is also a contract test.
 */
public final class AgentContract {

    private static final String SPEC = "openapi/netpass-agent.yaml";
    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static @Nullable AgentContract instance;

    private final Path path;
    private final OpenAPI openApi;
    private final JsonNode document;
    private final SchemaRegistry schemas = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12,
            builder -> builder.schemaRegistryConfig(SchemaRegistryConfig.builder()
                    .formatAssertionsEnabled(true).build()));
    private final Map<String, Schema> compiled = new ConcurrentHashMap<>();

    private AgentContract(Path path) {
        this.path = path;
        ParseOptions options = new ParseOptions();
        options.setResolve(true);
        SwaggerParseResult result = new OpenAPIV3Parser().readLocation(path.toUri().toString(), null, options);
        if (result.getOpenAPI() == null || (result.getMessages() != null && !result.getMessages().isEmpty())) {
            throw new IllegalStateException(path + " does not parse cleanly: " + result.getMessages());
        }
        this.openApi = result.getOpenAPI();
        this.document = YAMLMapper.builder().build().readTree(path.toFile());
    }

    /** The contract of the repository this test runs in. */
    public static synchronized AgentContract load() {
        if (instance == null) {
            Path here = Path.of("").toAbsolutePath();
            Path spec = Files.exists(here.resolve(SPEC)) ? here.resolve(SPEC) : here.resolveSibling(SPEC);
            if (!Files.exists(spec)) {
                throw new IllegalStateException(SPEC + " not found from " + here);
            }
            instance = new AgentContract(spec);
        }
        return instance;
    }

    public Path path() {
        return path;
    }

    public OpenAPI openApi() {
        return openApi;
    }

    /** Every operation as {@code METHOD /path/{}/...}, path variables unnamed. */
    public Set<String> operations() {
        Set<String> operations = new TreeSet<>();
        openApi.getPaths().forEach((template, item) -> item.readOperationsMap().keySet().forEach(method ->
                operations.add(method.name() + " " + normalise(template))));
        return operations;
    }

    /** {@code /v1/migrations/{migrationId}/{role}} → {@code /v1/migrations/{}/{}}. */
    public static String normalise(String template) {
        return template.replaceAll("\\{[^}]*}", "{}");
    }

    /**
     * Checks one response of operation {@code method pathTemplate} against the contract: the status is one the
     * operation declares, the content type one it declares for that status, and a JSON body validates against the
     * schema. A bodiless response must declare no content.
     *
     * @throws AssertionError naming every disagreement
     */
    public void check(String method, String pathTemplate, int status, @Nullable String contentType, String body) {
        String where = method + " " + pathTemplate + " → " + status;
        JsonNode operation = document.path("paths").path(pathTemplate).path(method.toLowerCase(Locale.ROOT));
        if (operation.isMissingNode()) {
            throw new AssertionError(where + ": the contract has no such operation");
        }
        JsonNode response = resolve(operation.path("responses").path(Integer.toString(status)));
        if (response.isMissingNode()) {
            throw new AssertionError(where + ": status not declared by the contract (body: " + abbreviate(body) + ")");
        }
        JsonNode content = response.path("content");
        if (content.isMissingNode() || content.isEmpty()) {
            if (!body.isEmpty()) {
                throw new AssertionError(where + ": the contract declares no body, got " + abbreviate(body));
            }
            return;
        }
        String mediaType = contentType == null ? "" : contentType.split(";", 2)[0].strip().toLowerCase(Locale.ROOT);
        JsonNode media = content.path(mediaType);
        if (media.isMissingNode()) {
            throw new AssertionError(where + ": content type '" + contentType + "' not among "
                    + content.propertyNames());
        }
        if (!mediaType.endsWith("json")) {
            return;
        }
        String key = where + " " + mediaType;
        Schema schema = compiled.computeIfAbsent(key, k -> compile(media.path("schema")));
        JsonNode instance;
        try {
            instance = JSON.readTree(body);
        } catch (RuntimeException e) {
            throw new AssertionError(where + ": body is not JSON: " + abbreviate(body), e);
        }
        List<Error> errors = schema.validate(instance);
        if (!errors.isEmpty()) {
            throw new AssertionError(where + ": body violates the contract " + errors + "\nbody: " + abbreviate(body));
        }
    }

    private JsonNode resolve(JsonNode node) {
        JsonNode current = node;
        while (current.has("$ref")) {
            String ref = current.get("$ref").asString();
            if (!ref.startsWith("#/")) {
                throw new IllegalStateException("external reference " + ref + " in " + path);
            }
            current = document.at(ref.substring(1));
        }
        return current;
    }

    /** A schema of the document, standalone: the document's components travel with it, so its refs resolve. */
    private Schema compile(JsonNode schema) {
        ObjectNode standalone = JSON.createObjectNode();
        standalone.put("$schema", "https://json-schema.org/draft/2020-12/schema");
        standalone.setAll((ObjectNode) schema.deepCopy());
        standalone.set("components", document.path("components").deepCopy());
        return schemas.getSchema(standalone);
    }

    private static String abbreviate(String text) {
        return text.length() <= 600 ? text : text.substring(0, 600) + "…";
    }
}
