package io.nemu.agent.transport;

import com.sun.jna.LastErrorException;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.agent.sys.Pty;
import io.nemu.agent.sys.Spawner;
import io.nemu.contract.DebugConsole;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One debug console connection: the requested command (a login shell by default) in the VM itself, with a new
 * pseudo-terminal as its controlling terminal or with three pipes, its output and exit status framed back to the
 * host ({@link DebugConsole}). The host going away hangs the command up.
 */
final class ConsoleSession {
    private static final Logger LOG = LoggerFactory.getLogger(ConsoleSession.class);
    private static final int SIGHUP = 1;
    private static final int SIGKILL = 9;
    /** After the command exits, how long output of what it left running may still hold the exit frame back. */
    private static final long DRAIN_MS = 2000;

    private final Fd sock;
    private final String name;

    ConsoleSession(Fd sock, String name) {
        this.sock = sock;
        this.name = name;
    }

    /** Serves the connection to its end; closes the socket. */
    void run() {
        DataInputStream in = new DataInputStream(new BufferedInputStream(sock.inputStream()));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(sock.outputStream()));
        List<Fd> ours = new ArrayList<>();
        try {
            DebugConsole.Request req = DebugConsole.Request.read(in);
            List<String> argv = new ArrayList<>(List.of("env", "TERM=" + (req.term().isEmpty() ? "vt100" : req.term())));
            argv.addAll(req.argv().isEmpty() ? List.of("sh", "-l") : req.argv());
            LOG.info("debug console {}: running {} with {}", name, req.argv().isEmpty() ? "a shell" : req.argv(),
                    req.tty() ? "a terminal " + req.rows() + "x" + req.cols() : "pipes");
            Fd stdin;
            Spawner.Child child;
            List<Thread> pumps = new ArrayList<>();
            if (req.tty()) {
                Fd master = Pty.openMaster();
                ours.add(master);
                Fd slave = new Fd(Libc.C.open(Pty.slaveName(master), Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC, 0));
                resize(master, req.rows(), req.cols());
                List<String> withTty = new ArrayList<>(List.of("setsid", "-c"));
                withTty.addAll(argv);
                try {
                    child = Spawner.get().spawn(withTty, slave, slave, slave);
                } finally {
                    slave.close();
                }
                stdin = master;
                pumps.add(pump(master, out, DebugConsole.STDOUT));
            } else {
                Fd[] i = Fd.pipe();
                Fd[] o = Fd.pipe();
                Fd[] e = Fd.pipe();
                ours.addAll(List.of(i[1], o[0], e[0]));
                try {
                    child = Spawner.get().spawn(argv, i[0], o[1], e[1]);
                } finally {
                    Fd.closeAll(i[0], o[1], e[1]);
                }
                stdin = i[1];
                pumps.add(pump(o[0], out, DebugConsole.STDOUT));
                pumps.add(pump(e[0], out, DebugConsole.STDERR));
            }
            Thread input = new Thread(() -> feed(in, stdin, child, req.tty()), "console-in-" + name);
            input.setDaemon(true);
            input.start();
            int status = child.exit().get();
            long deadline = System.currentTimeMillis() + DRAIN_MS;
            for (Thread p : pumps) {
                p.join(Math.max(1, deadline - System.currentTimeMillis()));
            }
            DebugConsole.writeInts(out, DebugConsole.EXIT, status);
            LOG.info("debug console {}: exited with status {}", name, status);
        } catch (IOException | LastErrorException e) {
            LOG.warn("debug console {}: {}", name, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException e) {
            LOG.warn("debug console {}: {}", name, e.getCause().toString());
        } finally {
            ours.forEach(Fd::close);
            sock.close();
        }
    }

    /** Host to guest: stdin bytes, its end, terminal size; the host gone hangs the command up. */
    private void feed(DataInputStream in, Fd stdin, Spawner.Child child, boolean tty) {
        try {
            DebugConsole.Frame f;
            while ((f = DebugConsole.read(in)) != null) {
                switch (f.type()) {
                    case DebugConsole.STDIN -> stdin.writeFully(f.data(), 0, f.data().length);
                    case DebugConsole.STDIN_EOF -> {
                        if (tty) {
                            stdin.writeFully(new byte[] {4}, 0, 1); // ^D: the terminal's end of input
                        } else {
                            stdin.close();
                        }
                    }
                    case DebugConsole.RESIZE -> {
                        if (tty) {
                            resize(stdin, f.intAt(0), f.intAt(1));
                        }
                    }
                    default -> throw new IOException("unknown frame type " + f.type());
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("debug console {}: input: {}", name, e.toString());
        }
        if (!child.exit().isDone()) {
            signal(child.pid(), tty ? SIGHUP : SIGKILL);
            try {
                child.exit().get(2, TimeUnit.SECONDS);
            } catch (Exception e) {
                signal(child.pid(), SIGKILL);
            }
        }
    }

    private static void signal(int pid, int sig) {
        try {
            Libc.C.kill(pid, sig);
        } catch (LastErrorException ignored) {
            // already gone
        }
    }

    /** Guest to host: one output stream as frames of {@code type}, until its end. */
    private Thread pump(Fd from, DataOutputStream out, byte type) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16 * 1024];
            try {
                int n;
                while ((n = from.read(buf, buf.length)) > 0) {
                    DebugConsole.write(out, type, buf, 0, n);
                }
            } catch (IOException e) {
                LOG.debug("debug console {}: output: {}", name, e.toString());
            }
        }, "console-out-" + name + "-" + type);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static void resize(Fd master, int rows, int cols) {
        if (rows <= 0 || cols <= 0) {
            return;
        }
        try {
            Pty.resize(master, rows, cols);
        } catch (LastErrorException e) {
            LOG.debug("TIOCSWINSZ: {}", Libc.C.strerror(e.getErrorCode()));
        }
    }
}
