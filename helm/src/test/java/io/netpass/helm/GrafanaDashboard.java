package io.netpass.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The chart's Grafana dashboard ({@code helm/netpass/dashboards/netpass.json}) as its PromQL queries: what each panel
 * asks Prometheus, the metric names those queries select, and a query with the dashboard's variables filled in as
 * Grafana would before sending it.
 */
public final class GrafanaDashboard {

    /** The dashboard, relative to the helm module. */
    public static final Path FILE = Path.of("netpass", "dashboards", "netpass.json");

    /** Words of PromQL that are not metric names where an identifier may stand. */
    private static final Set<String> KEYWORDS = Set.of("by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan");
    private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'");
    private static final Pattern MATCHERS = Pattern.compile("\\{[^}]*}");
    private static final Pattern RANGE = Pattern.compile("\\[[^]]*]");
    private static final Pattern GROUPING = Pattern.compile(
            "\\b(?:by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)");
    private static final Pattern IDENTIFIER = Pattern.compile("(?<![\\w.$])[a-zA-Z_:][\\w:]*+(?!\\s*\\()");
    private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\(\\s*([a-zA-Z_:][\\w:]*)");
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{?(\\w+)}?");

    /**
     * One query of one panel.
     *
     * @param panel the panel's title
     * @param refId the query's id within the panel
     * @param expr the PromQL expression, variables not yet filled in
     */
    public record Query(String panel, String refId, String expr) {
    }

    private final JsonNode dashboard;

    private GrafanaDashboard(JsonNode dashboard) {
        this.dashboard = dashboard;
    }

    /** The dashboard in {@code file}. */
    public static GrafanaDashboard read(Path file) {
        try {
            return new GrafanaDashboard(JsonMapper.builder().build().readTree(Files.readString(file)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The dashboard as JSON. */
    public JsonNode json() {
        return dashboard;
    }

    /** Every panel's queries, rows' nested panels included, in the dashboard's order. */
    public List<Query> queries() {
        List<Query> queries = new ArrayList<>();
        collect(dashboard.path("panels"), queries);
        return queries;
    }

    private static void collect(JsonNode panels, List<Query> queries) {
        for (JsonNode panel : panels) {
            for (JsonNode target : panel.path("targets")) {
                queries.add(new Query(panel.path("title").asString(), target.path("refId").asString(),
                        target.path("expr").asString()));
            }
            collect(panel.path("panels"), queries);
        }
    }

    /** The queries of the template variables (e.g. {@code label_values(metric, label)}). */
    public List<String> variableQueries() {
        List<String> queries = new ArrayList<>();
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            if (variable.path("type").asString().equals("query")) {
                queries.add(variable.path("definition").asString());
            }
        }
        return queries;
    }

    /** The names of the dashboard's template variables. */
    public Set<String> variables() {
        Set<String> names = new TreeSet<>();
        dashboard.path("templating").path("list").forEach(v -> names.add(v.path("name").asString()));
        return names;
    }

    /** Every metric name any panel or variable queries. */
    public Set<String> metricNames() {
        Set<String> names = new TreeSet<>();
        queries().forEach(query -> names.addAll(metricNames(query.expr())));
        for (String query : variableQueries()) {
            Matcher matcher = LABEL_VALUES.matcher(query);
            while (matcher.find()) {
                names.add(matcher.group(1));
            }
        }
        return names;
    }

    /** The metric names a PromQL expression selects: identifiers outside label matchers, ranges and groupings. */
    public static Set<String> metricNames(String promql) {
        String bare = STRING.matcher(promql).replaceAll("\"\"");
        bare = MATCHERS.matcher(bare).replaceAll(" ");
        bare = RANGE.matcher(bare).replaceAll(" ");
        bare = GROUPING.matcher(bare).replaceAll(" ");
        Set<String> names = new TreeSet<>();
        Matcher matcher = IDENTIFIER.matcher(bare);
        while (matcher.find()) {
            if (!KEYWORDS.contains(matcher.group().toLowerCase(java.util.Locale.ROOT))) {
                names.add(matcher.group());
            }
        }
        return names;
    }

    /** The variables ({@code $name}, {@code ${name}}, Grafana's {@code $__...}) a query uses. */
    public static Set<String> variablesIn(String expr) {
        Set<String> names = new TreeSet<>();
        Matcher matcher = VARIABLE.matcher(expr);
        while (matcher.find()) {
            names.add(matcher.group(1));
        }
        return names;
    }

    /** {@code expr} with every variable replaced by its value in {@code values}; fails on a variable it lacks. */
    public static String substitute(String expr, Map<String, String> values) {
        Matcher matcher = VARIABLE.matcher(expr);
        StringBuilder filled = new StringBuilder();
        while (matcher.find()) {
            String value = values.get(matcher.group(1));
            if (value == null) {
                throw new IllegalArgumentException("no value for $" + matcher.group(1) + " in " + expr);
            }
            matcher.appendReplacement(filled, Matcher.quoteReplacement(value));
        }
        matcher.appendTail(filled);
        return filled.toString();
    }
}
