/**
 * Benchmarks of the agent's data plane, each a plain {@code main} run as root by {@code bench/run-dataplane.sh}:
 * capture rate without kernel drops ({@link io.netpass.bench.CaptureRateBenchmark}), injection rate
 * ({@link io.netpass.bench.InjectionRateBenchmark}) and the kept-frame buffer's memory per frame byte
 * ({@link io.netpass.bench.BufferOverheadBenchmark}); and, run by {@code bench/run-release.sh} against agent JVMs,
 * the release latency of a switchover ({@link io.netpass.bench.ReleaseLatencyBenchmark}) and the agent-to-agent
 * stream's throughput ({@link io.netpass.bench.StreamThroughputBenchmark}). They build on the agent's test support
 * (namespace lab, fake VM, sequenced traffic, agent process) and print the figures docs/performance.md quotes.
 */
@NullMarked
package io.netpass.bench;

import org.jspecify.annotations.NullMarked;
