package io.nemu.shim.daemon;

import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.vmm.PrivateFiles;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The hand-over between {@code start} and a daemon that may be about to exit. {@code start} takes this lock,
 * reserves the sandbox (its state folder's {@code address} file names the daemon's socket) and only then looks
 * for a listening daemon; a daemon without pods exits only under the lock, when no reservation names it, and
 * removes its socket before it lets go. So an address {@code start} printed is never of a daemon on its way out.
 */
public final class DaemonLock implements AutoCloseable {
    /** A reservation older than this is taken for a start whose create never came. */
    static final Duration RESERVATION = Duration.ofMinutes(2);
    /** The file, in a sandbox's state folder, naming the socket of the daemon that serves (or will serve) it. */
    public static final String ADDRESS = "address";

    private final FileChannel channel;
    private final FileLock lock;

    private DaemonLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** The lock file of the daemon listening on {@code socket}: beside the sandboxes' state folders. */
    public static Path file(Path socket) {
        return SandboxPaths.defaultRoot().resolve("daemons").resolve(socket.getFileName() + ".lock");
    }

    /** Blocks until this process holds the lock of the daemon on {@code socket}. */
    public static DaemonLock take(Path socket) throws IOException {
        Path f = file(socket);
        PrivateFiles.directories(f.getParent());
        FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            return new DaemonLock(ch, ch.lock());
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Marks the sandbox as coming to the daemon on {@code socket} (call with the lock held). */
    public static void reserve(SandboxPaths paths, Path socket) throws IOException {
        PrivateFiles.directories(paths.state());
        Files.writeString(paths.state().resolve(ADDRESS), socket.toString(), StandardCharsets.UTF_8);
    }

    /** Whether a sandbox not among {@code held} was reserved for the daemon on {@code socket} lately. */
    static boolean reserved(Path runRoot, Path socket, Set<String> held, Instant now) {
        Path sandboxes = runRoot.resolve("sandboxes");
        if (!Files.isDirectory(sandboxes)) {
            return false;
        }
        try (Stream<Path> dirs = Files.list(sandboxes)) {
            return dirs.filter(d -> !held.contains(d.getFileName().toString())).map(d -> d.resolve(ADDRESS))
                    .anyMatch(a -> names(a, socket) && fresh(a, now));
        } catch (IOException e) {
            return true; // cannot tell: stay, the next check decides
        }
    }

    private static boolean names(Path addressFile, Path socket) {
        try {
            return Files.readString(addressFile, StandardCharsets.UTF_8).strip().equals(socket.toString());
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean fresh(Path file, Instant now) {
        try {
            return Files.getLastModifiedTime(file).toInstant().isAfter(now.minus(RESERVATION));
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
