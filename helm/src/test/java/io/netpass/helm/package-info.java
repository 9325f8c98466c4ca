/**
 * Tests of the Helm chart ({@code helm/netpass}): lint, rendering checked against the Kubernetes API model, and the
 * Grafana dashboard; {@link io.netpass.helm.GrafanaDashboard} is also what the end-to-end dashboard test reads.
 */
@NullMarked
package io.netpass.helm;

import org.jspecify.annotations.NullMarked;
