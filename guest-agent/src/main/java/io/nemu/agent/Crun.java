package io.nemu.agent;

import io.nemu.agent.sys.ConsoleSocket;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Spawner;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * crun's command line, with its own state root and a log file per bundle for error texts, and the one way
 * this agent starts a container process through it ({@code create} and {@code exec} alike).
 */
final class Crun {

    private static final Logger LOG = LoggerFactory.getLogger(Crun.class);
    private static final int SPAWN_TIMEOUT_SECONDS = 60;

    private final String binary;
    private final Path root;
    private final Path socketsDir;
    private final AtomicInteger sockets = new AtomicInteger();

    /**
     * @param root crun's {@code --root}
     * @param socketsDir where console sockets for processes with a terminal are made
     */
    Crun(String binary, Path root, Path socketsDir) {
        this.binary = binary;
        this.root = root;
        this.socketsDir = socketsDir;
    }

    List<String> command(Path log, String... args) {
        List<String> c = new ArrayList<>(List.of(binary, "--root", root.toString()));
        if (log != null) {
            c.add("--log=" + log);
        }
        c.addAll(List.of(args));
        return c;
    }

    /** Whether crun keeps state for this container (a create got that far). */
    boolean knows(String cid) {
        return Files.exists(root.resolve(cid));
    }

    /** Runs a short crun command; failure becomes INTERNAL with crun's own words. */
    void run(Path log, String... args) {
        Spawner.Result r;
        try {
            r = Spawner.get().run(command(log, args), 60);
        } catch (IOException e) {
            throw AgentException.internal("crun " + args[0] + ": " + e.getMessage(), e);
        }
        if (!r.ok()) {
            throw AgentException.internal("crun " + String.join(" ", args) + " failed (" + r.status() + "): "
                    + errorText(r.stderr(), log), null);
        }
    }

    /** {@code crun delete --force}, a failure only logged: for clean-ups. */
    void deleteQuietly(Path log, String cid) {
        try {
            run(log, "delete", "--force", cid);
        } catch (AgentException e) {
            LOG.warn("{}", e.getMessage());
        }
    }

    /**
     * Starts a container process: {@code args} is crun's subcommand and its options up to the container id
     * ({@code create --bundle B --pid-file P} or {@code exec --detach --pid-file P --process F}); crun writes
     * the process's pid to {@code pidFile}. With a terminal the process gets a pty whose master crun hands over
     * a console socket; otherwise three pipes. On failure nothing of the stdio is left open.
     */
    AgentProcess spawn(List<String> args, String cid, String execId, boolean terminal, Path log, Path pidFile)
            throws IOException {
        String what = args.get(0);
        List<String> cmd = new ArrayList<>(args);
        AgentProcess.PipeEnds pipes = null;
        Fd master = null;
        AgentProcess proc = null;
        try {
            if (terminal) {
                Files.createDirectories(socketsDir);
                try (ConsoleSocket sock = new ConsoleSocket(socketsDir.resolve(sockets.incrementAndGet() + ".sock"))) {
                    cmd.addAll(List.of("--console-socket", sock.path().toString(), cid));
                    Spawner.Child child = start(log, cmd, null, null, null);
                    try {
                        master = sock.receive(() -> child.exit().isDone(), SPAWN_TIMEOUT_SECONDS * 1000L);
                    } catch (IOException e) {
                        throw failed(what, child, log, e.getMessage());
                    }
                    finish(what, child, log);
                }
                proc = AgentProcess.withTerminal(cid, execId, master);
            } else {
                pipes = AgentProcess.PipeEnds.create();
                cmd.add(cid);
                Spawner.Child child = start(log, cmd, pipes.childIn(), pipes.childOut(), pipes.childErr());
                pipes.closeChildEnds();
                finish(what, child, log);
                proc = AgentProcess.withPipes(cid, execId, pipes);
            }
            proc.started(readPid(pidFile));
            return proc;
        } catch (RuntimeException | IOException e) {
            releaseStdio(proc, pipes, master);
            throw e;
        }
    }

    private Spawner.Child start(Path log, List<String> args, Fd in, Fd out, Fd err) throws IOException {
        return Spawner.get().spawn(command(log, args.toArray(new String[0])), in, out, err);
    }

    /**
     * Undoes stdio after a failed spawn. Once a process has its pumps, their read ends are theirs to close
     * (at end of file): closing them here could hit a reused descriptor number.
     */
    private static void releaseStdio(AgentProcess proc, AgentProcess.PipeEnds pipes, Fd master) {
        if (proc != null) {
            proc.release();
            if (pipes != null) {
                pipes.closeChildEnds();
            }
        } else {
            if (pipes != null) {
                pipes.closeAll();
            }
            Fd.closeAll(master);
        }
    }

    /** Waits for a crun create/exec to end; throws with its error unless it succeeded. */
    private static void finish(String what, Spawner.Child child, Path log) {
        int status;
        try {
            status = child.exit().get(SPAWN_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            Spawner.kill(child.pid(), 9);
            throw AgentException.internal("crun " + what + " did not finish within " + SPAWN_TIMEOUT_SECONDS + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw AgentException.internal("interrupted waiting for crun " + what, e);
        } catch (ExecutionException e) {
            throw AgentException.internal("crun " + what + ": " + e.getCause(), e);
        }
        if (status != 0) {
            throw AgentException.internal("crun " + what + " failed (" + status + "): " + errorText(null, log), null);
        }
    }

    private static AgentException failed(String what, Spawner.Child child, Path log, String detail) {
        Spawner.kill(child.pid(), 9);
        try {
            child.exit().get(10, TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // reaped later by the reaper anyway
        }
        return AgentException.internal("crun " + what + ": " + detail + ": " + errorText(null, log), null);
    }

    private static int readPid(Path pidFile) throws IOException {
        String s = Files.readString(pidFile, StandardCharsets.US_ASCII).trim();
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new IOException("crun wrote no pid to " + pidFile + ": '" + s + "'");
        }
    }

    /** What crun said: its stderr, else the tail of its log. */
    static String errorText(String stderr, Path log) {
        String s = stderr == null ? "" : stderr.trim();
        if (s.isEmpty() && log != null) {
            try {
                List<String> lines = Files.readAllLines(log);
                s = String.join(" | ", lines.subList(Math.max(0, lines.size() - 3), lines.size())).trim();
            } catch (IOException ignored) {
                // no log: nothing more to say
            }
        }
        return s.isEmpty() ? "no error text" : s;
    }
}
