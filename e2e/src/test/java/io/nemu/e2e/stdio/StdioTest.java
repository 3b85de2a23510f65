package io.nemu.e2e.stdio;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Nothing lost on the stdio path, in one sandbox VM: 100 MB with a known SHA-256 through the stdout of
 * {@code ctr run}, through an exec's stdout (the exec exits right after its last byte) and into an exec's stdin
 * ({@code sha256sum}, which answers only after CloseStdin's EOF, so the EOF came after the last byte); then
 * 10,000 numbered lines through a terminal exec that exits at once. MB/s are printed, not asserted
 * ({@code scripts/bench-stdio.sh} compares them).
 */
@Tag("system")
class StdioTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();
    private static final Duration MAX = Duration.ofMinutes(5);

    @TempDir
    Path work;

    @Test
    void hundredMegabytesThroughStdoutExecStdoutAndExecStdinArriveWhole() throws Exception {
        Distribution dist = Distribution.locate();
        GuestImages.assumeOfDistribution(dist, true);
        StdioTransfers t = new StdioTransfers();
        Path rootfs = t.rootfs(work.resolve("rootfs"));
        Path config = dist.writeConfig(work, "", "dial_timeout = 180");
        String id = LEFTOVERS.sandbox("stdio-" + ProcessHandle.current().pid());
        try (Containerd c = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin())
                .ctrTimeout(Duration.ofSeconds(240)).start())) {
            // The init writes the stream, then waits for its stdin's end: the VM stays up for the execs.
            StdioTransfers.Running run = StdioTransfers.start(c, Distribution.runArgs(config, "--rm", "--rootfs",
                    rootfs.toString(), id, "/bin/sh", "-c", StdioTransfers.PREPARE + " && " + StdioTransfers.GENERATE
                            + "; read x; echo bye"), StdioTransfers.BYTES);
            try {
                StdioTransfers.Transfer out = run.received(MAX);
                System.out.println("ctr run stdout: " + out);
                assertEquals(t.sha256(), out.sha256(), "ctr run stdout: " + out);
                assertEquals(StdioTransfers.BYTES, out.bytes());

                StdioTransfers.Transfer exec = t.execStdout(c, id, "out1", MAX);
                System.out.println("exec stdout: " + exec);
                assertEquals(0, exec.exitCode(), exec.toString());
                assertEquals(StdioTransfers.BYTES, exec.bytes(), exec.toString());
                assertEquals(t.sha256(), exec.sha256(), exec.toString());

                StdioTransfers.Transfer in = t.execStdin(c, id, "in1", MAX);
                System.out.println("exec stdin: " + in);
                assertEquals(0, in.exitCode(), in.toString());
                assertEquals(t.sha256(), in.sha256(), in.toString());

                List<String> lines = ttyLines(c, id);
                System.out.println("tty exec seq 1 10000: " + lines.size() + " lines");
                assertEquals(10000, lines.size(), "lines through the terminal");
                for (int i = 0; i < lines.size(); i++) {
                    assertEquals(Integer.toString(i + 1), lines.get(i), "tty line " + (i + 1));
                }

                run.stdin().close(); // the init's `read` ends, then it prints its last line and exits
                StdioTransfers.Transfer end = run.exited(MAX);
                assertEquals(0, end.exitCode(), end.toString());
            } finally {
                run.kill();
            }
            Leftovers.ofSandboxes(id).assertNone();
        }
    }

    /**
     * {@code ctr task exec -t ... seq 1 10000} under {@code script}, which gives ctr the terminal it wants; the
     * guest's terminal turns each newline into CR LF.
     */
    private static List<String> ttyLines(Containerd c, String id) throws Exception {
        String ctr = "ctr --address " + c.grpcAddress() + " task exec -t --exec-id tty1 " + id + " /bin/seq 1 10000";
        ProcessBuilder pb = new ProcessBuilder("script", "-qfec", ctr, "/dev/null")
                .redirectInput(ProcessBuilder.Redirect.PIPE);
        pb.environment().put("PATH", c.searchPath());
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(MAX.toSeconds(), TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("tty exec did not end");
        }
        p.getOutputStream().close();
        assertEquals(0, p.exitValue(), new String(out, StandardCharsets.UTF_8));
        return new String(out, StandardCharsets.UTF_8).lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }
}
