package io.nemu.agent.sys;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.ptr.IntByReference;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts child processes with posix_spawn and reaps every child of the agent in one thread.
 *
 * <p>The agent is a child subreaper, so container processes that crun leaves behind become its
 * children; one {@code waitpid(-1)} loop collects them all, which is why nothing in the agent may
 * use {@link ProcessBuilder} (the JDK would race this loop for its own children). Exit statuses
 * are reported as Kata does: the exit code, or 128 + signal number.
 */
public final class Spawner {

    private static final Logger LOG = LoggerFactory.getLogger(Spawner.class);

    /** A started child and its exit status (Kata encoding) once reaped. */
    public record Child(int pid, CompletableFuture<Integer> exit) {}

    /** Outcome of {@link #run}. */
    public record Result(int status, String stdout, String stderr) {
        public boolean ok() {
            return status == 0;
        }
    }

    private static volatile Spawner instance;

    private final Object lock = new Object();
    private final Map<Integer, CompletableFuture<Integer>> waiting = new java.util.HashMap<>();
    // Exits of children nobody asked for yet (a container init may die before its pid file is read).
    private final LinkedHashMap<Integer, Integer> unclaimed = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, Integer> e) {
            return size() > 4096;
        }
    };
    private long spawned;
    private final int devNull;

    private Spawner() {
        devNull = Libc.C.open("/dev/null", 2 | Libc.O_CLOEXEC, 0);
        // An ignored SIGCHLD (inherited from whoever started us) would make the kernel reap
        // children itself and lose their exit statuses.
        Libc.C.signal(Libc.SIGCHLD, com.sun.jna.Pointer.NULL);
        try {
            Libc.C.prctl(Libc.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        } catch (LastErrorException e) {
            LOG.warn("cannot become child subreaper: {}", Libc.C.strerror(e.getErrorCode()));
        }
        Thread t = new Thread(null, this::reap, "reaper", 256 * 1024);
        t.setDaemon(true);
        t.start();
    }

    public static Spawner get() {
        Spawner s = instance;
        if (s == null) {
            synchronized (Spawner.class) {
                s = instance;
                if (s == null) {
                    s = instance = new Spawner();
                }
            }
        }
        return s;
    }

    public static int decodeStatus(int raw) {
        int sig = raw & 0x7f;
        return sig == 0 ? (raw >> 8) & 0xff : 128 + sig;
    }

    private void reap() {
        long seen = -1;
        int[] status = new int[1];
        while (true) {
            int pid;
            try {
                pid = Libc.C.waitpid(-1, status, 0);
            } catch (LastErrorException e) {
                if (e.getErrorCode() == Libc.ECHILD) {
                    synchronized (lock) {
                        if (seen == spawned) {
                            try {
                                lock.wait(1000);
                            } catch (InterruptedException ie) {
                                return;
                            }
                        }
                        seen = spawned;
                    }
                } else if (e.getErrorCode() != Libc.EINTR) {
                    LOG.warn("waitpid: {}", Libc.C.strerror(e.getErrorCode()));
                }
                continue;
            }
            int code = decodeStatus(status[0]);
            CompletableFuture<Integer> f;
            synchronized (lock) {
                f = waiting.remove(pid);
                if (f == null) {
                    unclaimed.put(pid, code);
                }
            }
            if (f != null) {
                try {
                    f.complete(code);
                } catch (RuntimeException e) {
                    // a waiter's callback failed: the reaper must go on regardless
                    LOG.error("exit callback of pid {}: {}", pid, String.valueOf(e));
                }
            }
        }
    }

    /** The exit of a pid that is (or will become, by reparenting) a child of the agent. */
    public CompletableFuture<Integer> watch(int pid) {
        synchronized (lock) {
            Integer done = unclaimed.remove(pid);
            if (done != null) {
                return CompletableFuture.completedFuture(done);
            }
            return waiting.computeIfAbsent(pid, p -> new CompletableFuture<>());
        }
    }

    /** Starts {@code argv} (looked up on PATH) with the given stdio; null means /dev/null. */
    public Child spawn(List<String> argv, Fd stdin, Fd stdout, Fd stderr) throws IOException {
        if (argv.isEmpty()) {
            throw new IllegalArgumentException("empty command");
        }
        Memory fa = new Memory(512);
        Memory attr = new Memory(1024);
        Memory sigs = new Memory(256);
        Libc c = Libc.C;
        c.posix_spawn_file_actions_init(fa);
        c.posix_spawnattr_init(attr);
        try {
            c.posix_spawn_file_actions_adddup2(fa, stdin == null ? devNull : stdin.fd(), 0);
            c.posix_spawn_file_actions_adddup2(fa, stdout == null ? devNull : stdout.fd(), 1);
            c.posix_spawn_file_actions_adddup2(fa, stderr == null ? devNull : stderr.fd(), 2);
            try {
                c.posix_spawn_file_actions_addclosefrom_np(fa, 3);
            } catch (UnsatisfiedLinkError old) {
                // glibc < 2.34: our own fds are close-on-exec anyway
            }
            // The JVM blocks and handles signals; a child must start with defaults.
            c.sigemptyset(sigs);
            c.posix_spawnattr_setsigmask(attr, sigs);
            c.sigfillset(sigs);
            c.sigdelset(sigs, 9);
            c.sigdelset(sigs, 19);
            c.posix_spawnattr_setsigdefault(attr, sigs);
            c.posix_spawnattr_setflags(attr, (short) (Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETSIGDEF));
            List<String> env = new ArrayList<>();
            System.getenv().forEach((k, v) -> env.add(k + "=" + v));
            IntByReference pid = new IntByReference();
            synchronized (lock) {
                int err = c.posix_spawnp(pid, argv.get(0), fa, attr, argv.toArray(new String[0]),
                        env.toArray(new String[0]));
                if (err != 0) {
                    throw new IOException("cannot start " + argv.get(0) + ": " + c.strerror(err));
                }
                spawned++;
                lock.notifyAll();
                return new Child(pid.getValue(), watch(pid.getValue()));
            }
        } finally {
            c.posix_spawn_file_actions_destroy(fa);
            c.posix_spawnattr_destroy(attr);
        }
    }

    /** Runs a command to completion, collecting its output. */
    public Result run(List<String> argv, long timeoutSeconds) throws IOException {
        Fd[] out = Fd.pipe();
        Fd[] err = Fd.pipe();
        Child child;
        try {
            child = spawn(argv, null, out[1], err[1]);
        } finally {
            Fd.closeAll(out[1], err[1]);
        }
        try {
            // Its own thread, not the common pool: drains block until the child closes its end.
            CompletableFuture<String> errText = new CompletableFuture<>();
            Thread t = new Thread(null, () -> errText.complete(drain(err[0])), "stderr-" + child.pid(), 64 * 1024);
            t.setDaemon(true);
            t.start();
            String outText = drain(out[0]);
            int status = child.exit().get(timeoutSeconds, TimeUnit.SECONDS);
            return new Result(status, outText, errText.get(5, TimeUnit.SECONDS));
        } catch (TimeoutException e) {
            kill(child.pid(), 9);
            throw new IOException(String.join(" ", argv) + ": no answer within " + timeoutSeconds + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + argv.get(0));
        } catch (ExecutionException e) {
            throw new IOException(argv.get(0) + ": " + e.getCause());
        } finally {
            Fd.closeAll(out[0], err[0]);
        }
    }

    private static String drain(Fd fd) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (InputStream in = fd.inputStream()) {
            in.transferTo(b);
        } catch (IOException e) {
            b.writeBytes(("<" + e.getMessage() + ">").getBytes(StandardCharsets.UTF_8));
        }
        return b.toString(StandardCharsets.UTF_8);
    }

    /** kill(2); false when the process is already gone. */
    public static boolean kill(int pid, int sig) {
        try {
            Libc.C.kill(pid, sig);
            return true;
        } catch (LastErrorException e) {
            if (e.getErrorCode() == Libc.ESRCH) {
                return false;
            }
            throw new IllegalStateException("kill " + pid + ": " + Libc.C.strerror(e.getErrorCode()));
        }
    }
}
