/**
 * A migration as one agent sees it: the source side keeps the frames its paused VM never read and serves them to
 * the destination; the destination side notices its VM running, pulls those frames and injects them.
 */
@NullMarked
package io.netpass.agent.migration;

import org.jspecify.annotations.NullMarked;
