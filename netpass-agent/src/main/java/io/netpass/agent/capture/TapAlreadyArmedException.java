package io.netpass.agent.capture;

/** A tap can be armed by one capture session at a time. */
public class TapAlreadyArmedException extends RuntimeException {

    private final TapLocation tap;

    public TapAlreadyArmedException(TapLocation tap) {
        super(tap + " is already armed");
        this.tap = tap;
    }

    public TapLocation tap() {
        return tap;
    }
}
