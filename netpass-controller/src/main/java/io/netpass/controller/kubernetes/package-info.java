/**
 * The controller inside Kubernetes: the API client, leader election among controller replicas (a Lease), and the
 * agents discovered as the agent DaemonSet's pods, one per node.
 */
@NullMarked
package io.netpass.controller.kubernetes;

import org.jspecify.annotations.NullMarked;
