package io.netpass.helm;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;

import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;

import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Rendered manifests read into fabric8's typed Kubernetes model, strictly: a field the API does not know (a typo, a
 * wrong indentation) fails, as {@code kubectl apply --validate=strict} would. fabric8's classes keep unknown fields
 * in {@code additionalProperties} instead of failing, so every object read is walked and those must be empty.
 */
final class KubernetesModel {

    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.ofEntries(
            Map.entry("v1/Secret", Secret.class),
            Map.entry("v1/ConfigMap", ConfigMap.class),
            Map.entry("v1/ServiceAccount", ServiceAccount.class),
            Map.entry("v1/Service", Service.class),
            Map.entry("apps/v1/DaemonSet", DaemonSet.class),
            Map.entry("apps/v1/Deployment", Deployment.class),
            Map.entry("rbac.authorization.k8s.io/v1/Role", Role.class),
            Map.entry("rbac.authorization.k8s.io/v1/RoleBinding", RoleBinding.class),
            Map.entry("rbac.authorization.k8s.io/v1/ClusterRole", ClusterRole.class),
            Map.entry("rbac.authorization.k8s.io/v1/ClusterRoleBinding", ClusterRoleBinding.class));
    private static final String MONITORING = "monitoring.coreos.com/v1";
    private static final Schema MONITORS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12)
            .getSchema(SchemaLocation.of("classpath:monitoring.coreos.com-v1.schema.json"));

    private static final JsonMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    private KubernetesModel() {
    }

    /**
     * {@code document} as its typed object (a Prometheus Operator monitor as a generic resource, checked against
     * {@code monitoring.coreos.com-v1.schema.json}); fails on an unknown kind or any unknown field.
     */
    static HasMetadata read(JsonNode document) {
        String kind = document.path("apiVersion").asString() + "/" + document.path("kind").asString();
        if (kind.startsWith(MONITORING + "/")) {
            List<Error> errors = MONITORS.validate(document);
            if (!errors.isEmpty()) {
                throw new AssertionError(kind + " " + document.path("metadata").path("name") + ": " + errors);
            }
            return JSON.treeToValue(document, GenericKubernetesResource.class);
        }
        Class<? extends HasMetadata> type = KINDS.get(kind);
        if (type == null) {
            throw new AssertionError("no model for " + kind + " (the chart renders only known kinds)");
        }
        HasMetadata object = JSON.treeToValue(document, type);
        List<String> unknown = new ArrayList<>();
        collectUnknownFields(object, kind + " " + object.getMetadata().getName(), unknown);
        if (!unknown.isEmpty()) {
            throw new AssertionError("fields the Kubernetes API does not know: " + unknown);
        }
        return object;
    }

    private static void collectUnknownFields(Object object, String path, List<String> unknown) {
        if (object instanceof List<?> list) {
            for (int i = 0; i < list.size(); i++) {
                collectUnknownFields(list.get(i), path + "[" + i + "]", unknown);
            }
            return;
        }
        if (object instanceof Map<?, ?> map) {
            map.forEach((key, value) -> collectUnknownFields(value, path + "." + key, unknown));
            return;
        }
        if (!object.getClass().getPackageName().startsWith("io.fabric8.")) {
            return;
        }
        for (Method getter : object.getClass().getMethods()) {
            if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers())
                    || !getter.getName().startsWith("get") || getter.getName().equals("getClass")) {
                continue;
            }
            Object value = invoke(getter, object);
            if (value == null) {
                continue;
            }
            if (getter.getName().equals("getAdditionalProperties")) {
                ((Map<?, ?>) value).keySet().forEach(key -> unknown.add(path + "." + key));
            } else {
                collectUnknownFields(value, path + "." + property(getter), unknown);
            }
        }
    }

    private static Object invoke(Method getter, Object object) {
        try {
            return getter.invoke(object);
        } catch (IllegalAccessException | InvocationTargetException e) {
            throw new IllegalStateException(getter + " failed", e);
        }
    }

    private static String property(Method getter) {
        String name = getter.getName().substring(3);
        return Character.toLowerCase(name.charAt(0)) + name.substring(1);
    }
}
