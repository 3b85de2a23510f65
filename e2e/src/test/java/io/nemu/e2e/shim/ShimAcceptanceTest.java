package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.NemuCommand;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The acceptance: {@code ctr} with runtime io.containerd.nemu.v2 runs containers inside sandbox VMs,
 * the guest agent in the guest. Needs a guest image with the agent (skipped, saying so, without one).
 */
class ShimAcceptanceTest extends ShimScenarios {
    private static final Duration RUN = Duration.ofSeconds(300);

    @Override
    boolean agentInGuest() {
        return true;
    }

    @Override
    Duration ctrTimeout() {
        return RUN;
    }

    @Override
    String startAgent() {
        // The debug console and the agent's debug logs: what `nemu exec` and the log forwarding are tested with.
        return "dial_timeout = 180\nenable_debug = true\ndebug_console_enabled = true";
    }

    @Override
    String id(String name) {
        return "t-" + name;
    }

    @Override
    void assertKernel(String release) throws IOException {
        assertEquals(image.kernelRelease(), release, "runs in the guest's kernel");
        assertNotEquals(hostKernel(), release);
    }

    /**
     * The running sandbox seen by the operator: {@code nemu ps} lists it with what its QEMU runs with, {@code nemu
     * exec} runs commands in its VM (not in the container: the VM's view of the shared folder, the guest's kernel),
     * with their output streams and exit status; the agent's debug lines reached the shim's log.
     */
    @Override
    void whileDetachedRuns(String id, ContainerdEvents events) {
        try {
            Duration t = Duration.ofSeconds(60);
            JsonNode ps = null;
            for (JsonNode n : new ObjectMapper().readTree(NemuCommand.run(dist, t, "ps", "--json").requireOk().stdout())) {
                if (n.path("id").asText().equals(id)) {
                    ps = n;
                }
            }
            assertNotNull(ps, "nemu ps --json lists " + id);
            System.out.println("nemu ps --json: " + ps);
            List<String> qemuArgs = Files.readAllLines(SandboxPaths.of(id).vmRun().resolve("qemu.cmdline"));
            assertEquals("running", ps.path("status").asText());
            assertEquals(Sandboxes.pid(id, "qemu"), ps.path("qemuPid").asLong());
            assertEquals("virt", ps.path("profile").asText());
            assertEquals(qemuArgs.get(qemuArgs.indexOf("-smp") + 1).split(",")[0], ps.path("vcpus").asText());
            assertEquals(qemuArgs.get(qemuArgs.indexOf("-m") + 1).split("[,M]")[0], ps.path("memoryMib").asText());
            assertTrue(ps.path("debugConsole").asBoolean());
            String table = NemuCommand.run(dist, t, "ps").requireOk().stdout();
            System.out.println("nemu ps:\n" + table);
            long qemu = Sandboxes.pid(id, "qemu");
            assertTrue(table.lines().anyMatch(l -> l.startsWith(id + " ") && l.contains(" virt ")
                    && l.contains(" " + qemu + " ") && l.endsWith("running")), table);

            long t0 = System.nanoTime();
            NemuCommand.Result uname = NemuCommand.run(dist, t, "exec", id, "uname", "-r").requireOk();
            System.out.println("nemu exec " + id + " uname -r: " + uname.stdout().strip() + " in "
                    + (System.nanoTime() - t0) / 1_000_000 + " ms");
            assertEquals(image.kernelRelease(), uname.stdout().strip());
            // The VM's own view: the container's root shared at the guest's path, which no container sees.
            NemuCommand.run(dist, t, "exec", id, "test", "-d", GuestContract.containerRootfs(id)).requireOk();
            NemuCommand.Result streams = NemuCommand.run(dist, t, "exec", id.substring(0, id.length() - 2), "sh", "-c",
                    "echo out; echo err >&2; exit 7");
            assertEquals(7, streams.exitCode(), streams.stderr());
            assertEquals("out", streams.stdout().strip());
            assertEquals("err", streams.stderr().strip());

            String log = containerd.logTail(4000);
            assertTrue(log.lines().anyMatch(l -> l.contains("sandbox=" + id + " ") && l.contains("guest " + id + ": ")
                    && l.contains(" DEBUG debug logs on")), "the agent's debug line in the shim's log:\n" + log);
        } catch (IOException | InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void terminalRunThroughAPty() throws Exception {
        // script(1) gives ctr a pty of 30x100; the guest's stty sees the size ctr forwarded.
        String id = sandbox("tty");
        String cmd = "stty rows 30 cols 100; " + String.join(" ", ctrCommand(run("--rm", "-t", "--rootfs",
                rootfs().toString(), id, "/bin/sh")));
        Process p = ctrProcess(List.of("script", "-qfec", cmd, "/dev/null")).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CompletableFuture<Void> reader = CompletableFuture.runAsync(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (IOException ignored) {
                // ends with the process
            }
        });
        Thread.sleep(15_000); // the VM boots before the shell reads
        try (OutputStream in = p.getOutputStream()) {
            in.write("stty size\nexit 0\n".getBytes(StandardCharsets.UTF_8));
            in.flush();
            Thread.sleep(RUN.toMillis() / 6);
        }
        if (!p.waitFor(RUN.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        reader.get(5, TimeUnit.SECONDS);
        String screen = out.toString(StandardCharsets.UTF_8);
        assertTrue(screen.contains("30 100"), screen);
    }
}
