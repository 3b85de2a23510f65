package io.nemu.vmm.template;

import io.nemu.vmm.NetDevice;
import io.nemu.vmm.VmException;
import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The NICs a template is saved with: as many virtio-net devices as its clones will have, each on a throwaway tap in
 * a network namespace of the build's own (removed with it). A clone's command line has the same devices on the
 * pod's taps: migration carries the device state (and with it the template's MAC), never the tap, so the guest must
 * then be given the pod's MAC ({@link #mac}, by which the guest's NIC is found).
 */
public final class TemplateNics implements AutoCloseable {
    /** Where the build's namespace appears ({@code ip netns add}). */
    static final Path NETNS_DIR = Path.of("/run/netns");
    private static final Duration IP_TIMEOUT = Duration.ofSeconds(20);

    private final String netnsName;
    private final List<NetDevice> devices;

    private TemplateNics(String netnsName, List<NetDevice> devices) {
        this.netnsName = netnsName;
        this.devices = devices;
    }

    /** The locally administered MAC the template's NIC {@code index} is saved with (and a clone's NIC has until set). */
    public static String mac(int index) {
        if (index < 0 || index > 255) {
            throw new IllegalArgumentException("template NIC index must be 0..255, got " + index);
        }
        return String.format("02:6e:65:6d:75:%02x", index);
    }

    /**
     * A namespace named after the template's build folder (a leftover of a crashed build of the same template is
     * removed first) with a tap per device of {@code like}, made as the shim makes a pod's taps, and the devices on
     * them.
     */
    static TemplateNics create(Path buildDir, List<NetDevice> like) throws IOException {
        String ns = "nemu-tpl-" + Integer.toHexString(buildDir.toAbsolutePath().toString().hashCode());
        ip(false, "netns", "del", ns);
        ip(true, "netns", "add", ns);
        TemplateNics nics = new TemplateNics(ns, new ArrayList<>());
        try {
            for (int i = 0; i < like.size(); i++) {
                NetDevice d = like.get(i);
                ip(true, "-n", ns, "tuntap", "add", "dev", d.tap(), "mode", "tap");
                ip(true, "-n", ns, "link", "set", "dev", d.tap(), "up");
                nics.devices.add(new NetDevice(d.id(), d.tap(), mac(i)));
            }
            return nics;
        } catch (IOException | RuntimeException e) {
            nics.close();
            throw e;
        }
    }

    public Path netns() {
        return NETNS_DIR.resolve(netnsName);
    }

    public List<NetDevice> devices() {
        return List.copyOf(devices);
    }

    /** Removes the namespace and its taps (QEMU must be gone); nothing if it is gone already. */
    @Override
    public void close() throws IOException {
        if (java.nio.file.Files.exists(netns())) {
            ip(true, "netns", "del", netnsName);
        }
    }

    private static void ip(boolean mustSucceed, String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of("ip"));
        argv.addAll(List.of(args));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        Integer rc = ProcessTools.waitFor(p, IP_TIMEOUT);
        if (rc == null) {
            ProcessTools.kill(p);
        }
        if (mustSucceed && (rc == null || rc != 0)) {
            throw new VmException("template NICs: `" + String.join(" ", argv) + "` failed ("
                    + (rc == null ? "no exit in " + IP_TIMEOUT.toSeconds() + " s" : "exit " + rc) + "): " + out);
        }
    }
}
