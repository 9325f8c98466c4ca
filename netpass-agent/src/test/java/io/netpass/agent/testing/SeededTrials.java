package io.netpass.agent.testing;

import java.util.SplittableRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/**
 * Runs a property over many random trials, each from its own seed, and names the seed of the first failing one so
 * that it can be run again alone with {@code -Dnetpass.trials.seed=SEED}.
 *
 * <p>Stands in for jqwik, whose releases from 1.10 ask not to be used by AI coding agents and which is built on JUnit
 * Platform 1.x, not the Platform 6 that Spring Boot 4 brings.
 */
public final class SeededTrials {

    public static final String SEED_PROPERTY = "netpass.trials.seed";

    private SeededTrials() {
    }

    public static void run(int trials, Consumer<SplittableRandom> trial) {
        String fixedSeed = System.getProperty(SEED_PROPERTY);
        if (fixedSeed != null) {
            runOne(Long.parseLong(fixedSeed), trial);
            return;
        }
        long firstSeed = ThreadLocalRandom.current().nextLong();
        for (int i = 0; i < trials; i++) {
            runOne(firstSeed + i, trial);
        }
    }

    private static void runOne(long seed, Consumer<SplittableRandom> trial) {
        try {
            trial.accept(new SplittableRandom(seed));
        } catch (AssertionError | RuntimeException e) {
            throw new AssertionError("trial with seed " + seed + " failed (run it alone with -D" + SEED_PROPERTY
                    + "=" + seed + "): " + e.getMessage(), e);
        }
    }
}
