package io.nemu.e2e.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.Leftovers;
import io.nemu.vmm.AcceleratorProbe;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's commands of the built distribution, run as an operator runs them: {@code nemu check} on this
 * host, {@code nemu install}/{@code uninstall} against a copy of containerd's config (never the real one), and a
 * broken configuration, a missing guest image and a missing QEMU named in the same words by {@code nemu check} and
 * by the shim's {@code start} (what ctr shows). No VM is booted.
 */
@Tag("system")
class OperatorCommandsTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();

    private record Out(int exit, String out, String err) {
    }

    private Out nemu(String... args) throws Exception {
        return run(dist.bin().resolve("nemu"), Map.of(), args);
    }

    private Out run(Path nemu, Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(nemu.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        env.forEach((k, v) -> {
            if (v == null) {
                pb.environment().remove(k);
            } else {
                pb.environment().put(k, v);
            }
        });
        Process p = pb.start();
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        if (!p.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError(cmd + " did not end within " + TIMEOUT);
        }
        Out o = new Out(p.exitValue(), new String(out.get(), StandardCharsets.UTF_8), new String(err.get(), StandardCharsets.UTF_8));
        System.out.println("$ nemu " + String.join(" ", args) + "  (exit " + o.exit() + ")\n" + o.out() + o.err());
        return o;
    }

    private static byte[] read(java.io.InputStream in) {
        try {
            return in.readAllBytes();
        } catch (java.io.IOException e) {
            return new byte[0];
        }
    }

    @Test
    void checkPrintsItsTableForThisHost() throws Exception {
        Out r = nemu("check", "--containerd-config", work.resolve("no-containerd.toml").toString());
        assertEquals(0, r.exit(), "this host runs sandboxes (the system tests do): " + r.out());
        boolean kvm = AcceleratorProbe.kvm(Path.of("/usr/bin/qemu-system-x86_64")).usable();
        assertTrue(r.out().contains(kvm ? "PASS  accelerator         KVM" : "WARN  accelerator         TCG, KVM unusable"),
                r.out());
        boolean vhostVsock = Files.exists(Path.of("/dev/vhost-vsock"));
        assertTrue(r.out().contains(vhostVsock ? "PASS  vsock               kernel vhost-vsock"
                : "PASS  vsock               built-in vsock backend"), r.out());
        for (String line : List.of("PASS  configuration", "PASS  qemu ", "PASS  seccomp", "PASS  virtiofsd",
                "PASS  guest image", "PASS  containerd ", "PASS  cgroup")) {
            assertTrue(r.out().contains(line), line + " in\n" + r.out());
        }
        assertTrue(r.out().contains("every file matches manifest.json"), r.out());

        JsonNode json = new ObjectMapper().readTree(nemu("check", "--json", "--containerd-config",
                work.resolve("no-containerd.toml").toString()).out());
        assertTrue(json.get("ok").asBoolean());
        assertTrue(json.get("checks").size() >= 14, json.toString());

        JsonNode env = new ObjectMapper().readTree(nemu("env", "--json").out());
        assertEquals(dist.home.resolve("share/defaults/configuration.toml").toString(), env.at("/configuration/file").asText());
        assertTrue(env.at("/versions/qemu").asText().contains("QEMU emulator version"), env.toString());
        assertTrue(env.at("/versions/guest kernel").asText().matches("\\d+\\.\\d+\\.\\d+-.*"), env.toString());
        assertTrue(env.at("/versions/shim").asText().matches("\\d+\\.\\d+\\.\\d+.*"), env.toString());
        boolean vcpusFromFile = false;
        for (JsonNode s : env.at("/configuration/settings")) {
            if (s.get("key").asText().equals("hypervisor.qemu.default_vcpus")) {
                vcpusFromFile = s.get("source").asText().equals("file");
            }
        }
        assertTrue(vcpusFromFile, env.toString());
    }

    /** The release tarball runs on its own jre/: no JAVA_HOME, and the java on the PATH is not the one used. */
    @Test
    void theReleaseTarballRunsOnItsOwnRuntime() throws Exception {
        Path tarball;
        try (var s = Files.list(dist.home.getParent())) {
            tarball = s.filter(p -> p.getFileName().toString().matches("nemu-.*\\.tar\\.gz")).findFirst()
                    .orElseThrow(() -> new AssertionError("no nemu-<version>.tar.gz beside " + dist.home));
        }
        Process tar = new ProcessBuilder("tar", "xzf", tarball.toString(), "-C", work.toString()).inheritIO().start();
        assertEquals(0, tar.waitFor());
        Path home;
        try (var s = Files.list(work)) {
            home = s.filter(p -> p.getFileName().toString().startsWith("nemu-")).findFirst().orElseThrow();
        }
        assertTrue(Files.isExecutable(home.resolve("share/guest-agent/runtime/bin/java")), "the agent's runtime ships");
        assertFalse(Files.exists(home.resolve("share/guest")), "the guest image is built on the host");
        Map<String, String> env = new java.util.HashMap<>();
        env.put("JAVA_HOME", null);
        env.put("NEMU_HOME", null);
        Out r = run(home.resolve("bin/nemu"), env, "env", "--json");
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertTrue(json.at("/versions/java").asText().endsWith("(" + home.resolve("jre") + ")"), r.out());
        assertTrue(json.at("/versions/image").asText().contains("no guest image in " + home.resolve("share/guest")), r.out());
    }

    @Test
    void installThenUninstallLeavesContainerdsConfigByteIdentical() throws Exception {
        Path config = work.resolve("etc/containerd/config.toml");
        Files.createDirectories(config.getParent());
        Path real = Path.of("/etc/containerd/config.toml");
        byte[] original = Files.isRegularFile(real) ? Files.readAllBytes(real)
                : "version = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n".getBytes(StandardCharsets.UTF_8);
        Files.write(config, original);
        Path prefix = work.resolve("opt/nemu");
        Path bin = work.resolve("usr/local/bin");
        String[] install = {"install", "--prefix", prefix.toString(), "--bin-dir", bin.toString(), "--containerd-config",
                config.toString()};
        Out first = nemu(install);
        assertEquals(0, first.exit(), first.err());
        assertTrue(first.out().contains("added runtime io.containerd.nemu.v2 (CRI handler nemu) to " + config), first.out());
        Path shim = bin.resolve("containerd-shim-nemu-v2");
        assertEquals(prefix.resolve("bin/containerd-shim-nemu-v2"), Files.readSymbolicLink(shim));
        // The AppCDS archive was made for the installed class path: -Xshare:on fails the JVM if it does not map.
        ProcessBuilder pb = new ProcessBuilder(shim.toString(), "-v").redirectErrorStream(true);
        pb.environment().put("NEMU_JAVA_OPTS", "-XX:+UseSerialGC -Xshare:on -XX:SharedArchiveFile="
                + prefix.toRealPath().resolve("lib/nemu.jsa") + " -XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0");
        Process v = pb.start();
        String version = new String(v.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, v.waitFor(), version);

        Out again = nemu(install);
        assertEquals(0, again.exit(), again.err());
        assertTrue(again.out().contains(" 0 files copied") && again.out().contains("already runs handler nemu"), again.out());

        Out check = nemu("check", "--containerd-config", config.toString());
        assertTrue(check.out().contains("PASS  containerd config   " + config + ": CRI handler nemu (ConfigPath "
                + prefix.resolve("share/defaults/configuration.toml") + ")"), check.out());

        Out un = nemu("uninstall", "--prefix", prefix.toString());
        assertEquals(0, un.exit(), un.err());
        assertArrayEquals(original, Files.readAllBytes(config), "containerd's config byte for byte");
        assertFalse(Files.exists(shim, LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(prefix));
        assertFalse(Files.exists(config.resolveSibling("config.toml.nemu-backup")));
    }

    @Test
    void brokenConfigMissingImageAndMissingQemuAreNamedByCheckAndByTheShim() throws Exception {
        Path guest = dist.guestDir();
        Map<String, String> cases = Map.of(
                "broken", "default_vcpus = 0\n",
                "no-image", "",
                "no-qemu", "path = \"/nonexistent/qemu-system-x86_64\"\n");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Path dir = Files.createDirectories(work.resolve(c.getKey()));
            Path kernel = c.getKey().equals("no-image") ? dir.resolve("guest/vmlinux") : guest.resolve("vmlinux");
            Path config = Files.writeString(dir.resolve("configuration.toml"), "[hypervisor.qemu]\nkernel = \"" + kernel
                    + "\"\ninitrd = \"" + guest.resolve("initramfs.img") + "\"\naccelerator = \"tcg\"\n" + c.getValue());
            String expected = config + ": " + switch (c.getKey()) {
                case "broken" -> "hypervisor.qemu.default_vcpus must be 1..255, got 0";
                case "no-image" -> "hypervisor.qemu.kernel = " + kernel + " does not exist: there is no guest image in "
                        + dir.resolve("guest") + " (build it with `nemu image build`)";
                default -> "hypervisor.qemu.path = /nonexistent/qemu-system-x86_64 does not exist: install QEMU"
                        + " (apt-get install qemu-system-x86) or name its binary here";
            };
            Out check = nemu("check", "--config", config.toString(), "--containerd-config", work.resolve("none").toString());
            assertEquals(1, check.exit(), check.out());
            assertTrue(check.out().contains("FAIL  ") && check.out().contains(expected), expected + " in\n" + check.out());

            String id = LEFTOVERS.sandbox("nemu-e2e-ops-" + c.getKey());
            Path bundle = Distribution.bundle(dir.resolve("bundle"), Map.of());
            Distribution.Run start = dist.shim(bundle, Map.of("TTRPC_ADDRESS", work.resolve("none.ttrpc").toString()),
                    Distribution.runtimeOptions(config), TIMEOUT, "-namespace", "e2e", "-address",
                    "/run/nemu-e2e-fake/containerd.sock", "-publish-binary", "/usr/bin/containerd", "-id", id, "start");
            System.out.println("shim start with " + c.getKey() + ": exit " + start.exitCode() + ": " + start.stderr().strip());
            assertEquals(1, start.exitCode(), start.stderr());
            assertEquals("containerd-shim-nemu-v2: " + expected, start.stderr().strip());
        }
    }
}
