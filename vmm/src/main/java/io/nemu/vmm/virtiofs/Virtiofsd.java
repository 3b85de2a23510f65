package io.nemu.vmm.virtiofs;

import io.nemu.vmm.CacheMode;
import io.nemu.vmm.PrivateFiles;
import io.nemu.vmm.VmException;
import io.nemu.vmm.process.ProcessTools;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One virtiofsd serving one VM's shared folder on a vhost-user socket. It exits by itself when
 * QEMU disconnects; {@link #stop} ends it (by its pid) if it has not.
 */
public final class Virtiofsd implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Virtiofsd.class);

    private final Process process;
    private final Path socket;
    private final Path logFile;
    private final CompletableFuture<Integer> exit;

    private Virtiofsd(Process process, Path socket, Path logFile) {
        this.process = process;
        this.socket = socket;
        this.logFile = logFile;
        this.exit = process.onExit().thenApply(Process::exitValue);
    }

    /** The command line virtiofsd gets. */
    public static List<String> command(Path binary, Path socket, Path sourceDir, CacheMode cache) {
        return List.of(binary.toString(), "--socket-path=" + socket, "-o", "source=" + sourceDir,
                "-o", "cache=" + cache.option());
    }

    /**
     * Starts virtiofsd and returns once its socket exists. On any failure nothing is left running and
     * the error carries the tail of its log.
     */
    public static Virtiofsd start(Path binary, Path socket, Path sourceDir, CacheMode cache, Path logFile,
            Duration timeout) {
        if (!Files.isExecutable(binary)) {
            throw new VmException("virtiofsd not found or not executable: " + binary);
        }
        if (!Files.isDirectory(sourceDir)) {
            throw new VmException("virtiofsd source is not a directory: " + sourceDir);
        }
        Process p;
        try {
            Files.deleteIfExists(socket);
            PrivateFiles.file(logFile);
            p = new ProcessBuilder(command(binary, socket, sourceDir, cache))
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
        } catch (IOException e) {
            throw new VmException("cannot start virtiofsd " + binary + ": " + e.getMessage(), e);
        }
        Virtiofsd v = new Virtiofsd(p, socket, logFile);
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (!Files.exists(socket)) {
                if (!p.isAlive()) {
                    throw new VmException("virtiofsd (pid " + p.pid() + ") exited with code " + p.exitValue()
                            + " before creating " + socket + "; its log ends:\n" + ProcessTools.tail(logFile, 10));
                }
                if (System.nanoTime() > deadline) {
                    throw new VmException("virtiofsd (pid " + p.pid() + ") did not create " + socket + " within "
                            + timeout.toMillis() + " ms; its log ends:\n" + ProcessTools.tail(logFile, 10));
                }
                Thread.sleep(5);
            }
            // Debian's binds it 0700 (umask 077): made 0600 like every other socket, whatever the build.
            PrivateFiles.restrict(socket);
        } catch (IOException e) {
            v.stop(Duration.ZERO);
            throw new VmException("cannot make virtiofsd's socket " + socket + " owner-only: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            v.stop(Duration.ZERO);
            throw new VmException("interrupted while starting virtiofsd", e);
        } catch (RuntimeException e) {
            v.stop(Duration.ZERO);
            throw e;
        }
        log.info("virtiofsd pid {} serves {} on {} (cache={})", p.pid(), sourceDir, socket, cache.option());
        return v;
    }

    public long pid() {
        return process.pid();
    }

    public Path socket() {
        return socket;
    }

    public Path logFile() {
        return logFile;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Completes with the exit code (128+signal when killed) once virtiofsd has ended. */
    public CompletableFuture<Integer> exitFuture() {
        return exit;
    }

    /**
     * Waits up to {@code grace} for virtiofsd to leave on its own (it does once QEMU has gone), then
     * SIGTERM, then SIGKILL; removes its socket.
     */
    public void stop(Duration grace) {
        if (process.isAlive() && !grace.isZero()) {
            ProcessTools.waitFor(process, grace);
        }
        if (process.isAlive()) {
            process.destroy();
            if (ProcessTools.waitFor(process, Duration.ofSeconds(2)) == null) {
                log.warn("virtiofsd pid {} ignored SIGTERM; killing it", process.pid());
                ProcessTools.kill(process);
            }
        }
        ProcessTools.waitFor(process, Duration.ofSeconds(5));
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            log.warn("cannot remove {}: {}", socket, e.getMessage());
        }
    }

    @Override
    public void close() {
        stop(Duration.ZERO);
    }
}
