package io.nemu.e2e.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A pod network of the test's own: a CNI conflist with {@code bridge} (its own bridge name and
 * private subnet, host-local IPAM whose leases live in the test's folder, the bridge as gateway,
 * no masquerade, so pod traffic stays on this bridge) and {@code loopback}. {@link #close()}
 * deletes the bridge; leases go with the folder.
 */
public final class CniBridge implements AutoCloseable {
    /** Where libcni caches ADD results (containerd 1.6 does not move it); DEL removes them. */
    private static final Path CNI_CACHE = Path.of("/var/lib/cni/results");

    private final String network;
    private final String bridge;
    private final String subnet;
    private final Path confDir;
    private final Path ipamDir;

    private CniBridge(String bridge, String subnet, Path dir) throws IOException {
        this.bridge = bridge;
        this.network = "nemu-cri-" + bridge;
        this.subnet = subnet;
        this.confDir = Files.createDirectories(dir.resolve("net.d"));
        this.ipamDir = Files.createDirectories(dir.resolve("ipam"));
        Files.writeString(confDir.resolve("10-" + network + ".conflist"), conflist());
    }

    /**
     * {@code bridge}: at most 14 characters; {@code subnet}: a /24 of a private range nobody else uses.
     * {@code NEMU_E2E_LANE=N} (1-9) moves both (bridge name + N, third octet + 16 N) so that checkouts on one
     * host can run the same test at once.
     */
    public static CniBridge create(String bridge, String subnet, Path dir) throws IOException {
        String lane = System.getenv().getOrDefault("NEMU_E2E_LANE", "");
        if (!lane.isEmpty()) {
            if (!lane.matches("[1-9]")) {
                throw new IllegalArgumentException("NEMU_E2E_LANE must be a digit 1-9: " + lane);
            }
            String[] octets = subnet.split("\\.");
            int third = Integer.parseInt(octets[2]) + 16 * Integer.parseInt(lane);
            bridge = bridge + lane;
            subnet = octets[0] + "." + octets[1] + "." + (third % 256) + ".0/24";
        }
        if (bridge.isEmpty() || bridge.length() > 15) {
            throw new IllegalArgumentException("bridge name must be 1-15 characters: " + bridge);
        }
        if (!subnet.matches("10\\.\\d{1,3}\\.\\d{1,3}\\.0/24")) {
            throw new IllegalArgumentException("subnet must be a 10.x.y.0/24: " + subnet);
        }
        if (linkExists(bridge)) {
            throw new IllegalStateException("bridge " + bridge + " exists already (another run?); delete it with"
                    + " `ip link del " + bridge + "` if no test runs");
        }
        return new CniBridge(bridge, subnet, dir);
    }

    public Path confDir() {
        return confDir;
    }

    public String bridge() {
        return bridge;
    }

    public String subnet() {
        return subnet;
    }

    /** The bridge's own address: the pods' gateway. */
    public String gateway() {
        return subnet.substring(0, subnet.lastIndexOf('.')) + ".1";
    }

    public boolean inSubnet(String ip) {
        return ip.startsWith(subnet.substring(0, subnet.lastIndexOf('.') + 1));
    }

    String conflist() {
        return """
                {
                  "cniVersion": "1.0.0",
                  "name": "%s",
                  "plugins": [
                    {
                      "type": "bridge",
                      "bridge": "%s",
                      "isGateway": true,
                      "ipMasq": false,
                      "hairpinMode": true,
                      "ipam": {
                        "type": "host-local",
                        "dataDir": "%s",
                        "ranges": [[{"subnet": "%s", "gateway": "%s"}]]
                      }
                    },
                    {"type": "loopback"}
                  ]
                }
                """.formatted(network, bridge, ipamDir, subnet, gateway());
    }

    public String network() {
        return network;
    }

    /** Deletes the bridge and cached CNI results of this network that a failed run left. */
    @Override
    public void close() throws IOException {
        if (Files.isDirectory(CNI_CACHE)) {
            try (var s = Files.list(CNI_CACHE)) {
                for (Path p : s.filter(p -> p.getFileName().toString().startsWith(network + "-")).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
        if (linkExists(bridge) && run("ip", "link", "del", bridge) != 0) {
            throw new IOException("cannot delete bridge " + bridge);
        }
    }

    static boolean linkExists(String name) {
        return Files.exists(Path.of("/sys/class/net", name));
    }

    /** Names of the network namespaces under /var/run/netns. */
    public static List<String> netnsNames() {
        List<String> names = new ArrayList<>();
        Path dir = Path.of("/var/run/netns");
        if (!Files.isDirectory(dir)) {
            return names;
        }
        try (var s = Files.list(dir)) {
            s.forEach(p -> names.add(p.getFileName().toString()));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return names;
    }

    /** Runs a command, returns stdout (stderr appended); throws on timeout. */
    public static String output(Duration timeout, String... cmd) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish within " + timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    private static int run(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}
