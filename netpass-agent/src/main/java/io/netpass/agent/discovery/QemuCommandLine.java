package io.netpass.agent.discovery;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import org.jspecify.annotations.Nullable;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * What a QEMU command line says about the VM's name and its tap NICs. Understands QEMU's {@code key=value,...}
 * option syntax (a doubled comma is a literal one) and the JSON form libvirt passes since QEMU 6
 * ({@code -netdev {"type":"tap","fd":"25","id":"hostnet0"}}).
 *
 * @param guestName the {@code -name} option's guest name (libvirt's domain name), if any
 * @param taps the {@code -netdev tap} back ends by id
 * @param devices the front ends ({@code -device ...,netdev=ID}) in command-line order
 */
record QemuCommandLine(@Nullable String guestName, Map<String, TapBackend> taps, List<NetDevice> devices) {

    /**
     * A tap back end.
     *
     * @param id the netdev id
     * @param fds the file descriptors libvirt passed ({@code fd=N} or {@code fds=N:M} for several queues)
     * @param ifname the tap QEMU opened itself ({@code ifname=}), if it did
     */
    record TapBackend(String id, List<Integer> fds, @Nullable String ifname) {
    }

    /**
     * A guest NIC attached to a netdev.
     *
     * @param netdev the back end's id
     * @param mac the guest's MAC, lower case; absent if QEMU chose one
     */
    record NetDevice(String netdev, @Nullable String mac) {
    }

    private static final JsonMapper JSON = JsonMapper.builder().build();

    static QemuCommandLine parse(List<String> arguments) {
        String guestName = null;
        Map<String, TapBackend> taps = new LinkedHashMap<>();
        List<NetDevice> devices = new ArrayList<>();
        for (int i = 0; i + 1 < arguments.size(); i++) {
            String option = arguments.get(i);
            String value = arguments.get(i + 1);
            switch (normalize(option)) {
                case "-name" -> {
                    guestName = guestName(value);
                    i++;
                }
                case "-netdev" -> {
                    tapBackend(properties(value, "type")).ifPresent(tap -> taps.put(tap.id(), tap));
                    i++;
                }
                case "-device" -> {
                    netDevice(properties(value, "driver")).ifPresent(devices::add);
                    i++;
                }
                default -> {
                }
            }
        }
        return new QemuCommandLine(guestName, taps, devices);
    }

    /** QEMU accepts {@code --name} as well as {@code -name}. */
    private static String normalize(String option) {
        return option.startsWith("--") ? option.substring(1) : option;
    }

    private static @Nullable String guestName(String value) {
        Map<String, String> name = properties(value, "guest");
        return name.get("guest");
    }

    private static Optional<TapBackend> tapBackend(Map<String, String> netdev) {
        String id = netdev.get("id");
        if (!"tap".equals(netdev.get("type")) || id == null) {
            return Optional.empty();
        }
        List<Integer> fds = new ArrayList<>();
        String fd = netdev.get("fd");
        if (fd != null) {
            fds.add(fileDescriptor(fd));
        }
        String several = netdev.get("fds");
        if (several != null) {
            for (String one : several.split(":")) {
                fds.add(fileDescriptor(one));
            }
        }
        return Optional.of(new TapBackend(id, List.copyOf(fds.stream().filter(n -> n >= 0).toList()),
                netdev.get("ifname")));
    }

    /** A descriptor number; -1 for a named one (passed over the monitor with getfd), which /proc cannot resolve. */
    private static int fileDescriptor(String value) {
        try {
            return Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static Optional<NetDevice> netDevice(Map<String, String> device) {
        String netdev = device.get("netdev");
        if (netdev == null) {
            return Optional.empty();
        }
        String mac = device.get("mac");
        return Optional.of(new NetDevice(netdev, mac == null ? null : mac.toLowerCase(Locale.ROOT)));
    }

    /**
     * An option's properties: JSON objects' top-level members as text, or QEMU's {@code a=b,c=d} where a first
     * element without {@code =} is the {@code implied} key (the netdev type, the device driver, the guest name).
     */
    static Map<String, String> properties(String value, String implied) {
        if (value.startsWith("{")) {
            return jsonProperties(value);
        }
        Map<String, String> properties = new LinkedHashMap<>();
        List<String> parts = splitOptions(value);
        for (int i = 0; i < parts.size(); i++) {
            String part = parts.get(i);
            int equals = part.indexOf('=');
            if (equals < 0) {
                if (i == 0) {
                    properties.put(implied, part);
                }
                continue;
            }
            properties.putIfAbsent(part.substring(0, equals), part.substring(equals + 1));
        }
        return properties;
    }

    private static Map<String, String> jsonProperties(String value) {
        Map<String, String> properties = new LinkedHashMap<>();
        try {
            JsonNode object = JSON.readTree(value);
            for (Map.Entry<String, JsonNode> member : object.properties()) {
                JsonNode node = member.getValue();
                if (node.isValueNode()) {
                    properties.put(member.getKey(), node.asString());
                }
            }
        } catch (JacksonException e) {
            // Not JSON after all: nothing to take from it.
        }
        return properties;
    }

    /** Splits at single commas; QEMU writes a literal comma as two. */
    private static List<String> splitOptions(String value) {
        List<String> parts = new ArrayList<>();
        StringBuilder part = new StringBuilder();
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == ',') {
                if (i + 1 < value.length() && value.charAt(i + 1) == ',') {
                    part.append(',');
                    i++;
                    continue;
                }
                parts.add(part.toString());
                part.setLength(0);
            } else {
                part.append(c);
            }
        }
        parts.add(part.toString());
        return parts;
    }
}
