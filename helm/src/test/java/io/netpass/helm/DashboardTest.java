package io.netpass.helm;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import tools.jackson.databind.JsonNode;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The dashboard's queries are well-formed for Grafana and only use documented metrics. That the services really
 * export them, and that each query returns data from a real Prometheus during a migration, is
 * {@code netpass-lab}'s DashboardIT.
 */
class DashboardTest {

    private static final GrafanaDashboard DASHBOARD = GrafanaDashboard.read(GrafanaDashboard.FILE);
    /** Variables Grafana itself provides. */
    private static final Set<String> GRAFANA_VARIABLES = Set.of("__rate_interval", "__interval", "__range");
    private static final Pattern HISTOGRAM_SERIES = Pattern.compile("_(bucket|count|sum|max)$");
    private static final Pattern SUFFIXES = Pattern.compile("(_seconds)?(_total|_bucket|_count|_sum|_max)?$");

    @Test
    void findsTheMetricNamesAQuerySelects() {
        assertThat(GrafanaDashboard.metricNames("histogram_quantile(0.99, sum by (node, le) (rate("
                + "a_seconds_bucket{node=~\"$node\", le!=\"+Inf\"}[$__rate_interval])))")).containsExactly(
                "a_seconds_bucket");
        assertThat(GrafanaDashboard.metricNames("sum(increase(x_total{outcome=\"completed\"}[1h])) / "
                + "on (job) group_left (node) sum without (reason) (y) or vector(1e3) and z offset 5m"))
                .containsExactlyInAnyOrder("x_total", "y", "z");
        assertThat(GrafanaDashboard.metricNames("rate(up[5m]) > bool 0")).containsExactly("up");
    }

    @Test
    void everyPanelQueriesPrometheusThroughTheDatasourceVariable() {
        List<JsonNode> panels = DASHBOARD.json().path("panels").valueStream()
                .filter(p -> !p.path("type").asString().equals("row")).toList();
        assertThat(panels).hasSizeGreaterThanOrEqualTo(10);
        assertThat(panels).allSatisfy(panel -> {
            assertThat(panel.path("datasource").path("uid").asString()).as(panel.path("title").asString())
                    .isEqualTo("${datasource}");
            assertThat(panel.path("targets")).as(panel.path("title").asString()).isNotEmpty();
            assertThat(panel.path("description").asString()).as(panel.path("title").asString()).isNotBlank();
        });
        Set<Integer> ids = new HashSet<>();
        DASHBOARD.json().path("panels").forEach(p -> assertThat(ids.add(p.path("id").asInt())).isTrue());
        assertThat(DASHBOARD.json().path("uid").asString()).isEqualTo("netpass");
    }

    @Test
    void everyQueryUsesOnlyVariablesTheDashboardOrGrafanaDefines() {
        for (GrafanaDashboard.Query query : DASHBOARD.queries()) {
            assertThat(GrafanaDashboard.metricNames(query.expr())).as("%s", query).isNotEmpty();
            assertThat(GrafanaDashboard.variablesIn(query.expr())).as("%s", query)
                    .allMatch(v -> DASHBOARD.variables().contains(v) || GRAFANA_VARIABLES.contains(v));
        }
    }

    @Test
    void coversOutcomesSavedAndDroppedFramesBuffersAndReleaseLatencyPerNodeAndPerVm() {
        String all = DASHBOARD.queries().stream().map(GrafanaDashboard.Query::expr).reduce("", String::concat);
        assertThat(all).contains("by (outcome) (increase(netpass_controller_migrations_total",
                "netpass_controller_frames_saved_total", "netpass_controller_frames_dropped_total",
                "by (node) (netpass_agent_buffer_bytes", "by (node, tap, migration) (netpass_agent_session_buffer_bytes",
                "netpass_agent_release_first_injection_seconds_bucket",
                "netpass_agent_release_burst_injection_seconds_bucket");
    }

    @Test
    void everyMetricItQueriesIsDocumentedInDocsMetrics() throws Exception {
        String documented = Files.readString(Path.of("..", "docs", "metrics.md"));
        assertThat(DASHBOARD.metricNames()).isNotEmpty().allSatisfy(name -> assertThat(
                documented.contains("`" + name + "`") || documented.contains("`" + seriesName(name) + "`")
                        || documented.contains("`" + micrometerName(name) + "`"))
                .as("%s (or %s) in docs/metrics.md", name, micrometerName(name)).isTrue());
    }

    /** The name of the histogram or timer a series belongs to: no {@code _bucket}, {@code _count}, ... */
    private static String seriesName(String prometheusName) {
        return HISTOGRAM_SERIES.matcher(prometheusName).replaceFirst("");
    }

    /** The dot-separated Micrometer name a Prometheus name comes from: no unit or type suffix. */
    private static String micrometerName(String prometheusName) {
        return SUFFIXES.matcher(prometheusName).replaceFirst("").replace('_', '.');
    }
}
