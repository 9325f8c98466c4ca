package io.netpass.agent.discovery;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.jspecify.annotations.Nullable;

/**
 * Finds a VM's QEMU process and its tap NICs by reading /proc: the process by its executable, the taps by the tun
 * descriptors QEMU holds (their {@code iff:} in fdinfo), the namespace as the process's own, the MACs from the
 * command line. Blocking file reads: call it off the event loop.
 */
public final class VmDiscovery {

    /** How QEMU's system emulators are installed: {@code qemu-system-x86_64}, RHEL's {@code qemu-kvm}. */
    private static final Pattern QEMU_EXECUTABLE = Pattern.compile("^(qemu-system-[A-Za-z0-9_]+|qemu-kvm)$");
    private static final String DELETED = " (deleted)";
    private static final String TUN_DEVICE = "/dev/net/tun";

    private final DiscoveryProperties properties;

    public VmDiscovery(DiscoveryProperties properties) {
        this.properties = properties;
    }

    /**
     * Finds the VM and its tap NICs.
     *
     * @throws VmNotFoundException if no QEMU process runs it
     * @throws SeveralVmsFoundException if more than one does
     * @throws NotAQemuProcessException if a pid names no QEMU process
     * @throws NoTapNicException if the QEMU process has no NIC on a tap
     */
    public DiscoveredVm discover(VmLocator vm) {
        int pid = vm.qemuPid() != null ? requireQemu(vm.qemuPid()) : findByName(vm, Objects.requireNonNull(vm.guestName()));
        return new DiscoveredVm(pid, nics(pid));
    }

    /** Whether {@code pid} is a running QEMU system emulator, judged by its executable, not by its name. */
    public boolean isQemu(int pid) {
        try {
            String exe = Files.readSymbolicLink(properties.proc().resolve(Integer.toString(pid)).resolve("exe"))
                    .toString();
            if (exe.endsWith(DELETED)) {
                exe = exe.substring(0, exe.length() - DELETED.length()); // upgraded while running
            }
            Path name = Path.of(exe).getFileName();
            return name != null && QEMU_EXECUTABLE.matcher(name.toString()).matches();
        } catch (IOException | UnsupportedOperationException e) {
            return false; // gone, a kernel thread, or not ours to read
        }
    }

    private int requireQemu(int pid) {
        if (!isQemu(pid)) {
            throw new NotAQemuProcessException("process " + pid + " is not a running QEMU system emulator");
        }
        return pid;
    }

    private int findByName(VmLocator vm, String guestName) {
        Optional<Integer> fromPidFile = libvirtPidFile(guestName);
        if (fromPidFile.isPresent()) {
            return fromPidFile.get();
        }
        List<Integer> found = qemuPids().stream()
                .filter(pid -> guestName.equals(commandLine(pid).map(QemuCommandLine::guestName).orElse(null)))
                .toList();
        if (found.isEmpty()) {
            throw new VmNotFoundException("no QEMU process on this host runs " + vm + " (-name guest=" + guestName
                    + ")");
        }
        if (found.size() > 1) {
            throw new SeveralVmsFoundException(found.size() + " QEMU processes run " + vm + ": pids " + found);
        }
        return found.getFirst();
    }

    /** libvirtd's pid file, if it names a QEMU process that is still running (it is left behind after a crash). */
    private Optional<Integer> libvirtPidFile(String domain) {
        Path file = properties.libvirtRunDirectory().resolve(domain + ".pid");
        if (!file.getParent().equals(properties.libvirtRunDirectory())) {
            return Optional.empty();
        }
        try {
            int pid = Integer.parseInt(Files.readString(file, StandardCharsets.US_ASCII).strip());
            boolean runsIt = isQemu(pid)
                    && domain.equals(commandLine(pid).map(QemuCommandLine::guestName).orElse(null));
            return runsIt ? Optional.of(pid) : Optional.empty();
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private List<Integer> qemuPids() {
        List<Integer> pids = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(properties.proc(),
                entry -> entry.getFileName().toString().chars().allMatch(Character::isDigit))) {
            for (Path entry : entries) {
                int pid = Integer.parseInt(entry.getFileName().toString());
                if (isQemu(pid)) {
                    pids.add(pid);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + properties.proc(), e);
        }
        return pids;
    }

    private Optional<QemuCommandLine> commandLine(int pid) {
        try {
            byte[] raw = Files.readAllBytes(properties.proc().resolve(Integer.toString(pid)).resolve("cmdline"));
            String text = new String(raw, StandardCharsets.UTF_8);
            if (text.endsWith("\0")) {
                text = text.substring(0, text.length() - 1);
            }
            return Optional.of(QemuCommandLine.parse(Arrays.asList(text.split("\0", -1))));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private List<DiscoveredVm.TapNic> nics(int pid) {
        QemuCommandLine commandLine = commandLine(pid)
                .orElseThrow(() -> new NotAQemuProcessException("QEMU process " + pid + " is gone"));
        Map<Integer, String> tunDescriptors = tunDescriptors(pid);
        String namespace = namespaceOf(pid);
        List<DiscoveredVm.TapNic> nics = new ArrayList<>();
        List<String> claimed = new ArrayList<>();
        List<QemuCommandLine.NetDevice> unnamed = new ArrayList<>();
        for (QemuCommandLine.NetDevice device : commandLine.devices()) {
            QemuCommandLine.TapBackend tap = commandLine.taps().get(device.netdev());
            if (tap == null) {
                continue; // user networking, a bridge helper, vhost-user: no tap to watch
            }
            String name = tapName(tap, tunDescriptors);
            if (name == null) {
                unnamed.add(device);
                continue;
            }
            claimed.add(name);
            nics.add(new DiscoveredVm.TapNic(device.mac(), name, namespace));
        }
        // A tap netdev with neither fd= nor ifname= makes QEMU pick the name (tapN): one such NIC is the one tap
        // left over; with several the order is not knowable from /proc.
        List<String> leftover = tunDescriptors.values().stream().filter(name -> !claimed.contains(name))
                .distinct().toList();
        if (unnamed.size() == 1 && leftover.size() == 1) {
            nics.add(new DiscoveredVm.TapNic(unnamed.getFirst().mac(), leftover.getFirst(), namespace));
        }
        if (nics.isEmpty()) {
            throw new NoTapNicException("QEMU process " + pid + " has no guest NIC on a tap it holds ("
                    + commandLine.devices().size() + " NICs, tun descriptors " + tunDescriptors + ")");
        }
        return nics;
    }

    private static @Nullable String tapName(QemuCommandLine.TapBackend tap, Map<Integer, String> tunDescriptors) {
        for (int fd : tap.fds()) {
            String name = tunDescriptors.get(fd);
            if (name != null) {
                return name;
            }
        }
        // Opened by QEMU itself: trust the name only if QEMU still holds a descriptor on it.
        String ifname = tap.ifname();
        return ifname != null && tunDescriptors.containsValue(ifname) ? ifname : null;
    }

    /** The process's tun descriptors and the interface each is attached to. */
    private Map<Integer, String> tunDescriptors(int pid) {
        Path process = properties.proc().resolve(Integer.toString(pid));
        Map<Integer, String> descriptors = new LinkedHashMap<>();
        try (Stream<Path> fds = Files.list(process.resolve("fd"))) {
            for (Path fd : fds.sorted().toList()) {
                try {
                    if (!TUN_DEVICE.equals(Files.readSymbolicLink(fd).toString())) {
                        continue;
                    }
                    String number = fd.getFileName().toString();
                    FdInfo.tunInterface(Files.readString(process.resolve("fdinfo").resolve(number)))
                            .ifPresent(name -> descriptors.put(Integer.parseInt(number), name));
                } catch (NoSuchFileException e) {
                    // closed while we looked
                }
            }
        } catch (NoSuchFileException e) {
            throw new NotAQemuProcessException("QEMU process " + pid + " is gone");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the descriptors of process " + pid, e);
        }
        return descriptors;
    }

    /**
     * The process's network namespace: the /run/netns path that names the same namespace (same device and inode)
     * if there is one, since it outlives the process; otherwise {@code /proc/PID/ns/net}.
     */
    private String namespaceOf(int pid) {
        Path own = properties.proc().resolve(Integer.toString(pid)).resolve("ns").resolve("net");
        try {
            String key = inode(own);
            if (Files.isDirectory(properties.netnsDirectory())) {
                try (Stream<Path> named = Files.list(properties.netnsDirectory())) {
                    for (Path candidate : named.sorted().toList()) {
                        try {
                            if (key.equals(inode(candidate))) {
                                return candidate.toString();
                            }
                        } catch (IOException e) {
                            // an unmounted leftover file: not a namespace
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw new NotAQemuProcessException("QEMU process " + pid + " is gone");
        }
        return own.toString();
    }

    /** Device and inode of the namespace a path leads to: two paths name the same namespace when these match. */
    private static String inode(Path path) throws IOException {
        Map<String, Object> attributes = Files.readAttributes(path, "unix:dev,ino");
        return attributes.get("dev") + ":" + attributes.get("ino");
    }
}
