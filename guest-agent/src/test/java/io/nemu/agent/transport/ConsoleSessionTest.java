package io.nemu.agent.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.contract.DebugConsole;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A debug console session over a unix socketpair (the vsock listener hands it an accepted socket the same way):
 * real processes under pipes and under a real pseudo-terminal, their output and exit status framed back.
 */
class ConsoleSessionTest {
    record Seen(String stdout, String stderr, int status) {}

    private static Seen run(DebugConsole.Request req, String stdin) throws Exception {
        int[] fds = new int[2];
        Libc.C.socketpair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds);
        Thread session = new Thread(() -> new ConsoleSession(new Fd(fds[0]), "test").run());
        session.start();
        try (Fd host = new Fd(fds[1])) {
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(host.outputStream()));
            DataInputStream in = new DataInputStream(new BufferedInputStream(host.inputStream()));
            req.write(out);
            byte[] data = stdin.getBytes(StandardCharsets.UTF_8);
            DebugConsole.write(out, DebugConsole.STDIN, data, 0, data.length);
            DebugConsole.write(out, DebugConsole.STDIN_EOF, data, 0, 0);
            ByteArrayOutputStream o = new ByteArrayOutputStream();
            ByteArrayOutputStream e = new ByteArrayOutputStream();
            DebugConsole.Frame f;
            while ((f = DebugConsole.read(in)) != null) {
                switch (f.type()) {
                    case DebugConsole.STDOUT -> o.write(f.data());
                    case DebugConsole.STDERR -> e.write(f.data());
                    case DebugConsole.EXIT -> {
                        session.join(5000);
                        return new Seen(o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8),
                                f.intAt(0));
                    }
                    default -> throw new AssertionError("frame type " + f.type());
                }
            }
            throw new AssertionError("no exit frame; stdout so far: " + o);
        }
    }

    @Test
    void pipesKeepTheStreamsApartAndTheStatus() throws Exception {
        Seen s = run(new DebugConsole.Request(false, 0, 0, "", List.of("sh", "-c", "cat; echo err >&2; exit 7")),
                "typed\n");
        assertEquals("typed\n", s.stdout());
        assertEquals("err\n", s.stderr());
        assertEquals(7, s.status());
    }

    @Test
    void aTerminalIsTheControllingTtyOfTheRequestedSize() throws Exception {
        Seen s = run(new DebugConsole.Request(true, 33, 101, "xterm", List.of("sh", "-c",
                "stty size; tty; echo TERM=$TERM; exit 3")), "");
        assertEquals(3, s.status(), s.stdout());
        assertTrue(s.stdout().contains("33 101"), s.stdout());
        assertTrue(s.stdout().contains("/dev/pts/"), s.stdout());
        assertTrue(s.stdout().contains("TERM=xterm"), s.stdout());
        assertEquals("", s.stderr(), "a terminal has one stream");
    }
}
