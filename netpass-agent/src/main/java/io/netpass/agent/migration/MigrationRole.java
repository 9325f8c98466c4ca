package io.netpass.agent.migration;

import java.util.Locale;

/** The side of a migration a session is on. */
public enum MigrationRole {
    /** The host the VM leaves: captures and keeps the frames the paused VM never read. */
    SOURCE,
    /** The host the VM arrives at: detects the VM running, pulls the kept frames and injects them. */
    DESTINATION;

    public String pathSegment() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** @throws IllegalArgumentException for anything but {@code source} or {@code destination} */
    public static MigrationRole fromPathSegment(String segment) {
        for (MigrationRole role : values()) {
            if (role.pathSegment().equals(segment)) {
                return role;
            }
        }
        throw new IllegalArgumentException("role must be 'source' or 'destination', not '" + segment + "'");
    }
}
