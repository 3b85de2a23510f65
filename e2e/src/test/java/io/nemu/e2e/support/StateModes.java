package io.nemu.e2e.support;

import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The modes of what the shim made on the host for a running sandbox: its state folder (pids, the VM's run
 * folder with QEMU's, virtiofsd's and the vsock sockets, logs), its shared base and the shim's ttrpc socket.
 * Folders must be owner-only, sockets and the console log 0600, no file writable by others. What is mounted
 * below the shared folder (container rootfs, host volumes) is the container's own, not looked at.
 */
public final class StateModes {
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFLNK = 0120000;

    /**
     * @param problems one line per path whose mode lets others in
     * @param sockets  every socket looked at
     * @param checked  how many paths were looked at
     */
    public record Report(List<String> problems, List<Path> sockets, int checked) {
    }

    private StateModes() {
    }

    /** Walks the sandbox's folders and the shim socket named in its state's {@code address} file. */
    public static Report of(String sandboxId) throws IOException {
        SandboxPaths paths = SandboxPaths.of(sandboxId);
        Set<Path> foreign = new HashSet<>();
        for (String m : FileTrees.mountPointsUnder(paths.sharedBase())) {
            Path p = Path.of(m);
            // The shared folder is bound onto itself (a shared mount): that one is the shim's own.
            if (!p.equals(paths.shared())) {
                foreign.add(p);
            }
        }
        List<String> problems = new ArrayList<>();
        List<Path> sockets = new ArrayList<>();
        int[] checked = {0};
        for (Path top : List.of(paths.state(), paths.sharedBase())) {
            if (!Files.isDirectory(top, LinkOption.NOFOLLOW_LINKS)) {
                problems.add(top + ": missing");
                continue;
            }
            Files.walkFileTree(top, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                    if (foreign.contains(dir)) {
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    check(dir, problems, sockets);
                    checked[0]++;
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    if (!foreign.contains(file)) {
                        check(file, problems, sockets);
                        checked[0]++;
                    }
                    return FileVisitResult.CONTINUE;
                }
            });
        }
        Path socket = Path.of(Files.readString(paths.state().resolve("address")).strip());
        check(socket, problems, sockets);
        checked[0]++;
        Path console = paths.vmRun().resolve("console.log");
        if ((mode(console) & 077) != 0) {
            problems.add(console + ": " + describe(mode(console)) + ", the console log must be 0600");
        }
        return new Report(problems, sockets, checked[0]);
    }

    private static int mode(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    }

    private static void check(Path p, List<String> problems, List<Path> sockets) throws IOException {
        int mode = mode(p);
        int type = mode & S_IFMT;
        if (type == S_IFLNK) {
            return; // a link's own mode means nothing
        }
        if (type == S_IFDIR) {
            if ((mode & 077) != 0) {
                problems.add(p + ": folder " + describe(mode) + ", must not be open to group or others");
            }
        } else if (type == S_IFSOCK) {
            sockets.add(p);
            if ((mode & 0777) != 0600) {
                problems.add(p + ": socket " + describe(mode) + ", must be 0600");
            }
        } else if ((mode & 022) != 0) {
            problems.add(p + ": " + describe(mode) + ", writable by group or others");
        }
    }

    private static String describe(int mode) {
        return String.format("%04o", mode & 07777);
    }
}
