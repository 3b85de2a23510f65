package io.nemu.shim.daemon;

import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.vmm.PrivateFiles;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The hand-over between {@code start} and a daemon that may be about to exit. {@code start} takes this lock,
 * reserves the sandbox (its state folder's {@code address} file names the daemon's socket) and only then looks
 * for a listening daemon; a daemon without pods exits only under the lock, when no reservation names it, and
 * removes its socket before it lets go. So an address {@code start} printed is never of a daemon on its way out.
 * A retiring daemon also removes the lock file itself ({@link #retire}); {@link #take} copes with that.
 */
public final class DaemonLock implements AutoCloseable {
    /** A reservation older than this is taken for a start whose create never came. */
    static final Duration RESERVATION = Duration.ofMinutes(2);
    /** The file, in a sandbox's state folder, naming the socket of the daemon that serves (or will serve) it. */
    public static final String ADDRESS = "address";

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private DaemonLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /** The lock file of the daemon listening on {@code socket}: beside the sandboxes' state folders. */
    public static Path file(Path socket) {
        return file(SandboxPaths.defaultRoot(), socket);
    }

    static Path file(Path runRoot, Path socket) {
        return runRoot.resolve("daemons").resolve(socket.getFileName() + ".lock");
    }

    /** The daemon's own log (its stderr; each pod's lines go to that pod's log fifo): beside its lock. */
    public static Path logFile(Path socket) {
        return logFile(file(socket), socket);
    }

    private static Path logFile(Path lockFile, Path socket) {
        return lockFile.resolveSibling(socket.getFileName() + ".log");
    }

    /** Blocks until this process holds the lock of the daemon on {@code socket}. */
    public static DaemonLock take(Path socket) throws IOException {
        return take(socket, null).orElseThrow();
    }

    /**
     * The lock, waiting at most {@code wait} (null: as long as it takes); empty when another process held it
     * all that time. A lock taken on a file that a retiring daemon removed meanwhile is let go and taken again on
     * the file now at that path, so that two processes never both believe they hold it.
     */
    public static Optional<DaemonLock> take(Path socket, Duration wait) throws IOException {
        return takeFile(file(socket), wait);
    }

    static Optional<DaemonLock> takeFile(Path f, Duration wait) throws IOException {
        long deadline = wait == null ? Long.MAX_VALUE : System.nanoTime() + wait.toNanos();
        while (true) {
            PrivateFiles.directories(f.getParent());
            Set<Path> before = descriptorsOn(f);
            FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            try {
                Set<Path> mine = new HashSet<>(descriptorsOn(f));
                mine.removeAll(before);
                FileLock lock = wait == null ? ch.lock() : poll(ch, deadline);
                if (lock == null) {
                    ch.close();
                    return Optional.empty();
                }
                if (stillAt(f, mine)) {
                    return Optional.of(new DaemonLock(f, ch, lock));
                }
                ch.close();
            } catch (IOException | RuntimeException e) {
                ch.close();
                throw e;
            }
        }
    }

    private static FileLock poll(FileChannel ch, long deadline) throws IOException {
        while (true) {
            FileLock lock = ch.tryLock();
            if (lock != null || System.nanoTime() > deadline) {
                return lock;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
    }

    /** This process's descriptors open on {@code f} (or on a file once at that path), as /proc/self/fd links. */
    static Set<Path> descriptorsOn(Path f) throws IOException {
        String name = f.toString();
        Set<Path> on = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : (Iterable<Path>) fds::iterator) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.equals(name) || target.equals(name + " (deleted)")) {
                        on.add(fd);
                    }
                } catch (IOException closed) {
                    // closed meanwhile (the listing's own descriptor among them)
                }
            }
        }
        return on;
    }

    /**
     * Whether the locked file (open on {@code descriptors}) is still the one at {@code f}: same inode. Both are
     * looked at with stat alone: opening and closing the file, even to read it, would drop this process's lock
     * (POSIX record locks go with any close of the file).
     */
    static boolean stillAt(Path f, Set<Path> descriptors) throws IOException {
        Object atPath;
        try {
            atPath = Files.getAttribute(f, "unix:ino");
        } catch (NoSuchFileException removed) {
            return false;
        }
        for (Path fd : descriptors) {
            if (!atPath.equals(Files.getAttribute(fd, "unix:ino"))) {
                return false;
            }
        }
        return true;
    }

    /**
     * The daemon's last act, with this lock held: its socket, log and lock file go, so that nothing of it stays
     * on the host; the next {@code start} makes them anew.
     */
    public void retire(Path socket) throws IOException {
        Files.deleteIfExists(socket);
        Files.deleteIfExists(logFile(file, socket));
        Files.deleteIfExists(file);
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
