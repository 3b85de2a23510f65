package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
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
        return "dial_timeout = 180";
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
