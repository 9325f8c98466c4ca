package io.netpass.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.marcnuri.helm.DryRun;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.InstallCommand;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;

import io.fabric8.kubernetes.api.model.HasMetadata;

import org.jspecify.annotations.Nullable;
import org.springframework.util.FileSystemUtils;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.MappingIterator;
import tools.jackson.databind.node.ObjectNode;
import tools.jackson.dataformat.yaml.YAMLMapper;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The chart in {@code helm/netpass}, linted and rendered by the Helm library that helm-java embeds (no cluster, no
 * network), with its values files from {@code ci/}.
 */
final class NetpassChart {

    static final String RELEASE = "np";
    static final String NAMESPACE = "virt";
    static final Path DIRECTORY = Path.of("netpass");
    private static final YAMLMapper YAML = YAMLMapper.builder().build();

    private NetpassChart() {
    }

    /** The non-default values files the chart is tested with: {@code ci/*-values.yaml}. */
    static List<Path> valuesFiles() {
        try (Stream<Path> files = Files.list(DIRECTORY.resolve("ci"))) {
            return files.filter(f -> f.getFileName().toString().endsWith("-values.yaml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code helm template} with {@code values} (none: the defaults) and {@code --set key=value} pairs. */
    static List<JsonNode> render(@Nullable Path values, String... set) {
        TemplateCommand template = new Helm(DIRECTORY).template().withName(RELEASE).withNamespace(NAMESPACE)
                .withKubeVersion("1.31.0");
        if (values != null) {
            template = template.withValuesFile(values);
        }
        for (int i = 0; i < set.length; i += 2) {
            template = template.set(set[i], set[i + 1]);
        }
        return documents(template.call());
    }

    /** {@link #render} read into the Kubernetes model, strictly ({@link KubernetesModel#read}). */
    static List<HasMetadata> objects(@Nullable Path values, String... set) {
        return render(values, set).stream().map(KubernetesModel::read).toList();
    }

    /** The one object of {@code type}; fails unless there is exactly one. */
    static <T> T only(List<HasMetadata> objects, Class<T> type) {
        List<T> found = objects.stream().filter(type::isInstance).map(type::cast).toList();
        assertThat(found).as(type.getSimpleName()).hasSize(1);
        return found.getFirst();
    }

    /** The objects of a multi-document YAML stream; empty documents (a template that rendered nothing) left out. */
    static List<JsonNode> documents(String yaml) {
        List<JsonNode> documents = new ArrayList<>();
        try (MappingIterator<JsonNode> iterator = YAML.readerFor(JsonNode.class).readValues(yaml)) {
            while (iterator.hasNextValue()) {
                JsonNode document = iterator.nextValue();
                if (document != null && document.isObject() && !document.isEmpty()) {
                    documents.add(document);
                }
            }
        }
        return documents;
    }

    /**
     * What {@code helm install --dry-run=client} prints with {@code values} (none: the defaults): the release and
     * the rendered NOTES.txt.
     */
    static String installNotes(@Nullable Path values) {
        InstallCommand install = new Helm(DIRECTORY).install().withName(RELEASE).withNamespace(NAMESPACE)
                .withKubeVersion("1.31.0").clientOnly().withDryRunOption(DryRun.CLIENT);
        if (values != null) {
            install = install.withValuesFile(values);
        }
        return install.call().getOutput();
    }

    /**
     * {@code helm lint --strict} of the chart with {@code values} over its defaults. Helm's lint reads only the
     * chart's own values.yaml, so the chart is copied and its values.yaml replaced by the merged values.
     */
    static LintResult lint(@Nullable Path values, Path scratch) {
        if (values == null) {
            return new Helm(DIRECTORY).lint().strict().call();
        }
        try {
            Path copy = scratch.resolve("netpass");
            FileSystemUtils.deleteRecursively(copy);
            FileSystemUtils.copyRecursively(DIRECTORY, copy);
            ObjectNode merged = (ObjectNode) YAML.readTree(DIRECTORY.resolve("values.yaml").toFile());
            merge(merged, (ObjectNode) YAML.readTree(values.toFile()));
            YAML.writeValue(copy.resolve("values.yaml").toFile(), merged);
            return new Helm(copy).lint().strict().call();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Helm's merge of values: maps merge key by key, anything else replaces. */
    private static void merge(ObjectNode into, ObjectNode from) {
        Map<String, JsonNode> fields = new LinkedHashMap<>();
        from.properties().forEach(entry -> fields.put(entry.getKey(), entry.getValue()));
        fields.forEach((key, value) -> {
            if (value.isObject() && into.get(key) instanceof ObjectNode existing) {
                merge(existing, (ObjectNode) value);
            } else {
                into.set(key, value);
            }
        });
    }
}
