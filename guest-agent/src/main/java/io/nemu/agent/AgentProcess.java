package io.nemu.agent;

import com.google.protobuf.ByteString;
import com.sun.jna.LastErrorException;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Libc;
import io.nemu.agent.sys.Pty;
import io.nemu.agent.sys.Spawner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * One process of a container (its init, exec id "", or an exec) and its stdio: pipes, or a
 * pty master when it has a terminal. Output is pumped into bounded buffers for ReadStdout/Err.
 */
final class AgentProcess {

    static final int BUFFER = 1 << 20;
    /**
     * The kernel buffer of each stdio pipe (F_SETPIPE_SZ; the default is 64 KiB): a process and the agent's pump
     * then take turns on the one vCPU per megabyte, not per 64 KiB.
     */
    static final int PIPE_SIZE = 1 << 20;

    final String execId;
    final boolean terminal;
    private volatile int pid;
    private volatile CompletableFuture<Integer> exit = new CompletableFuture<>();
    private final Object stdinLock = new Object();
    private Fd stdin; // pipe write end, or the pty master (shared with stdout then)
    private final Fd ptyMaster;
    final StreamBuffer stdout;
    final StreamBuffer stderr;
    private volatile boolean waited;

    /** Stdio for a process with pipes: the child's ends are handed to crun, ours kept. */
    record PipeEnds(Fd childIn, Fd childOut, Fd childErr, Fd ourIn, Fd ourOut, Fd ourErr) {
        static PipeEnds create() throws IOException {
            Fd[] in = Fd.pipe();
            Fd[] out = Fd.pipe();
            Fd[] err = Fd.pipe();
            for (Fd[] p : List.of(in, out, err)) {
                enlarge(p[0]);
            }
            return new PipeEnds(in[0], out[1], err[1], in[1], out[0], err[0]);
        }

        private static void enlarge(Fd pipe) {
            try {
                Fcntl.LIB.fcntl(pipe.fd(), 1031 /* F_SETPIPE_SZ */, PIPE_SIZE);
            } catch (LastErrorException e) {
                // a smaller pipe is slower, not wrong
            }
        }

        void closeChildEnds() {
            Fd.closeAll(childIn, childOut, childErr);
        }

        void closeAll() {
            Fd.closeAll(childIn, childOut, childErr, ourIn, ourOut, ourErr);
        }
    }

    private AgentProcess(String execId, boolean terminal, Fd stdin, Fd ptyMaster) {
        this.execId = execId;
        this.terminal = terminal;
        this.stdin = stdin;
        this.ptyMaster = ptyMaster;
        this.stdout = new StreamBuffer(BUFFER);
        this.stderr = terminal ? null : new StreamBuffer(BUFFER);
    }

    static AgentProcess withPipes(String cid, String execId, PipeEnds ends) {
        AgentProcess p = new AgentProcess(execId, false, ends.ourIn(), null);
        String name = cid.substring(0, Math.min(12, cid.length())) + (execId.isEmpty() ? "" : "/" + execId);
        StreamBuffer.pump(ends.ourOut(), p.stdout, "out-" + name);
        StreamBuffer.pump(ends.ourErr(), p.stderr, "err-" + name);
        return p;
    }

    static AgentProcess withTerminal(String cid, String execId, Fd master) {
        AgentProcess p = new AgentProcess(execId, true, master, master);
        // The pump must not close the master while stdin and resizes still use it.
        Fd readSide;
        try {
            readSide = new Fd(dupCloexec(master.fd()));
        } catch (IOException e) {
            throw AgentException.internal("cannot duplicate the terminal of " + cid, e);
        }
        StreamBuffer.pump(readSide, p.stdout, "tty-" + cid.substring(0, Math.min(12, cid.length())));
        return p;
    }

    private static int dupCloexec(int fd) throws IOException {
        // fcntl(F_DUPFD_CLOEXEC) through open of /proc/self/fd would reopen /dev/ptmx: use dup via JNA.
        try {
            return Fcntl.LIB.fcntl(fd, 1030 /* F_DUPFD_CLOEXEC */, 3);
        } catch (LastErrorException e) {
            throw new IOException("fcntl: " + Libc.C.strerror(e.getErrorCode()));
        }
    }

    private interface FcntlLib extends com.sun.jna.Library {
        int fcntl(int fd, int cmd, int arg) throws LastErrorException;
    }

    private static final class Fcntl {
        static final FcntlLib LIB = com.sun.jna.Native.load("c", FcntlLib.class);
    }

    void started(int pid) {
        this.pid = pid;
        Spawner.get().watch(pid).whenComplete((code, e) -> exit.complete(code));
    }

    int pid() {
        return pid;
    }

    boolean exited() {
        return exit.isDone();
    }

    CompletableFuture<Integer> exit() {
        return exit;
    }

    /** Whether the process catches {@code sig}, from SigCgt in /proc/PID/status; gone or unreadable: no. */
    boolean catches(int sig) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("SigCgt:")) {
                    long mask = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    return (mask & (1L << (sig - 1))) != 0;
                }
            }
        } catch (IOException | NumberFormatException ignored) {
            // gone or unreadable: treat as not handled
        }
        return false;
    }

    void markWaited() {
        waited = true;
    }

    /** Done with: exited, waited for, and all its output read. */
    boolean finished() {
        return waited && exit.isDone() && stdout.drained() && (stderr == null || stderr.drained());
    }

    /** Writes all of {@code data} to the process's stdin (blocking while its pipe is full), each piece without a copy in Java. */
    int writeStdin(ByteString data) throws IOException {
        synchronized (stdinLock) {
            if (stdin == null) {
                throw AgentException.precondition("stdin of process '" + execId + "' is closed");
            }
            for (java.nio.ByteBuffer piece : data.asReadOnlyByteBufferList()) {
                stdin.writeFully(piece);
            }
            return data.size();
        }
    }

    void closeStdin() throws IOException {
        synchronized (stdinLock) {
            if (stdin == null) {
                return;
            }
            if (terminal) {
                stdin.writeFully(new byte[] {4}, 0, 1); // VEOF: the master stays open for output
            } else {
                stdin.close();
            }
            stdin = null;
        }
    }

    void resize(int rows, int cols) {
        if (ptyMaster == null) {
            throw AgentException.precondition("process '" + execId + "' has no terminal");
        }
        try {
            Pty.resize(ptyMaster, rows, cols);
        } catch (LastErrorException e) {
            throw AgentException.internal("TIOCSWINSZ: " + Libc.C.strerror(e.getErrorCode()), null);
        }
    }

    /** Frees the agent's side of the stdio; waiting readers see end of stream. */
    void release() {
        synchronized (stdinLock) {
            if (stdin != null && stdin != ptyMaster) {
                stdin.close();
            }
            stdin = null;
        }
        if (ptyMaster != null) {
            ptyMaster.close();
        }
        stdout.finish();
        if (stderr != null) {
            stderr.finish();
        }
    }
}
