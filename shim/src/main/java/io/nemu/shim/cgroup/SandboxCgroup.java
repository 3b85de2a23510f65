package io.nemu.shim.cgroup;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sandbox's cgroup on the host (Kata's {@code sandbox_cgroup_only = true}): the one the sandbox's OCI spec
 * names in {@code linux.cgroupsPath}, in every hierarchy of {@link CgroupFs}. {@link #enter} creates what is
 * missing; {@link #adopt} moves QEMU (all its threads) and virtiofsd in as soon as each is spawned. The shim
 * daemon itself stays in its own cgroup: it serves the other pods of its namespace too. No limit is written here: the pod's limits are on the
 * parent the kubelet made and sized (containers plus the RuntimeClass's overhead), and bound the whole sandbox.
 * {@link #close} removes only the folders it made, once the processes are gone. The folders made are recorded in the state folder ({@link #RECORD}) so that
 * {@code delete} after a dead daemon removes them too ({@link #cleanUpRecorded}).
 */
public final class SandboxCgroup implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SandboxCgroup.class);
    /** File in the sandbox's state folder: one line per folder made, {@code sandbox PATH} or {@code parent PATH}. */
    public static final String RECORD = "cgroups";
    /** How long a removal waits for the last processes of the cgroup to be gone. */
    private static final long BUSY_WAIT_MS = 5_000;

    /** rmdir(2); a test's fake cgroup folders need their files removed first. */
    interface Rmdir {
        void rmdir(Path dir) throws IOException;
    }

    private final String sandboxId;
    private final CgroupFs fs;
    private final CgroupPath path;
    private final Rmdir rmdir;
    private final Path record;
    /** The sandbox's folder in each hierarchy. */
    private final List<Path> folders = new ArrayList<>();
    /** The folders this sandbox made, each after its parent. */
    private final List<Path> created = new ArrayList<>();
    private boolean closed;

    private SandboxCgroup(String sandboxId, CgroupFs fs, CgroupPath path, Rmdir rmdir, Path stateDir) {
        this.sandboxId = sandboxId;
        this.fs = fs;
        this.path = path;
        this.rmdir = rmdir;
        this.record = stateDir.resolve(RECORD);
    }

    /**
     * Makes the cgroup named by the spec's {@code linux.cgroupsPath} on this host; empty when the
     * spec names none (the processes then stay in the daemon's cgroup). A path that cannot be a cgroup is an
     * {@link IllegalArgumentException} naming it; a cgroup that cannot be made or joined an IOException.
     */
    public static Optional<SandboxCgroup> enter(String sandboxId, String cgroupsPath, Path stateDir) throws IOException {
        Optional<CgroupPath> path = CgroupPath.parse(cgroupsPath);
        if (path.isEmpty()) {
            log.info("sandbox {}: the spec names no linux.cgroupsPath: QEMU and virtiofsd stay in the shim's cgroup",
                    sandboxId);
            return Optional.empty();
        }
        return Optional.of(enter(CgroupFs.host(), sandboxId, path.get(), stateDir, Files::delete));
    }

    static SandboxCgroup enter(CgroupFs fs, String sandboxId, CgroupPath path, Path stateDir, Rmdir rmdir)
            throws IOException {
        SandboxCgroup cg = new SandboxCgroup(sandboxId, fs, path, rmdir, stateDir);
        try {
            for (CgroupFs.Hierarchy h : fs.hierarchies()) {
                Path folder = h.folder(path);
                cg.make(h.mount(), folder);
                cg.folders.add(folder);
            }
        } catch (IOException | RuntimeException e) {
            cg.close();
            throw e;
        }
        log.info("sandbox {}: cgroup {} ready ({}{}); QEMU and virtiofsd are moved in as they start",
                sandboxId, path, fs.describe(), cg.created.isEmpty() ? ", existing" : ", made "
                        + cg.created.size() + " folders");
        return cg;
    }

    /** Makes each missing level from the hierarchy's root down to {@code folder}, recording each one made. */
    private void make(Path mount, Path folder) throws IOException {
        for (int attempt = 0; ; attempt++) {
            try {
                Path level = mount;
                for (Path name : mount.relativize(folder)) {
                    level = level.resolve(name);
                    if (Files.isDirectory(level)) {
                        continue;
                    }
                    try {
                        Files.createDirectory(level);
                    } catch (FileAlreadyExistsException raced) {
                        continue; // another sandbox made the same parent just now: not ours
                    }
                    created.add(level);
                    writeRecord();
                }
                return;
            } catch (NoSuchFileException gone) {
                // another sandbox's teardown removed a shared parent between our checks: start again
                if (attempt == 3) {
                    throw new IOException("cannot make cgroup " + folder + ": " + gone.getMessage(), gone);
                }
            }
        }
    }

    private void writeRecord() throws IOException {
        StringBuilder b = new StringBuilder();
        for (Path p : created) {
            b.append(isParent(p) ? "parent " : "sandbox ").append(p).append('\n');
        }
        Files.writeString(record, b);
    }

    /** Whether a folder made is a parent level rather than the sandbox's own cgroup. */
    private boolean isParent(Path made) {
        return !made.endsWith(path.path());
    }

    /** Moves a process, all its threads, into the sandbox's cgroup. */
    public synchronized void adopt(String what, long pid) throws IOException {
        for (Path f : folders) {
            try {
                Files.writeString(f.resolve("cgroup.procs"), Long.toString(pid));
            } catch (IOException e) {
                throw new IOException("sandbox " + sandboxId + ": cannot move " + what + " (pid " + pid + ") into cgroup "
                        + f + ": " + e.getMessage(), e);
            }
        }
    }

    /** The sandbox's cgroup folders, one per hierarchy. */
    public List<Path> folders() {
        return List.copyOf(folders);
    }

    /**
     * The folders made are removed, the sandbox's own after
     * waiting for its last processes to be gone; parents still used by other sandboxes stay.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<String> left = remove(created.stream().map(p -> new Made(p, isParent(p))).toList(), rmdir);
        left.forEach(l -> log.warn("sandbox {}: {}", sandboxId, l));
        if (left.isEmpty()) {
            try {
                Files.deleteIfExists(record);
            } catch (IOException e) {
                log.warn("sandbox {}: cannot remove {}: {}", sandboxId, record, e.getMessage());
            }
        }
        log.info("sandbox {}: left cgroup {}{}", sandboxId, path, created.isEmpty() ? "" : ", removed what it made");
    }

    /** A folder the sandbox made; a parent may be shared with other sandboxes. */
    private record Made(Path folder, boolean parent) {
    }

    /** Removes folders deepest first; returns a line per folder left behind that should not be. */
    private static List<String> remove(List<Made> made, Rmdir rmdir) {
        List<String> left = new ArrayList<>();
        for (int i = made.size() - 1; i >= 0; i--) {
            Made m = made.get(i);
            long deadline = System.nanoTime() + BUSY_WAIT_MS * 1_000_000;
            while (true) {
                try {
                    if (Files.isDirectory(m.folder())) {
                        rmdir.rmdir(m.folder());
                    }
                    break;
                } catch (IOException e) {
                    if (m.parent()) {
                        break; // another sandbox's cgroup is still below it
                    }
                    if (System.nanoTime() > deadline) {
                        left.add("cannot remove cgroup " + m.folder() + ": " + e.getMessage());
                        break;
                    }
                    sleep();
                }
            }
        }
        return left;
    }

    private static void sleep() {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** After a dead daemon: removes the cgroup folders its sandbox recorded. Returns a line per thing done. */
    public static List<String> cleanUpRecorded(Path stateDir) {
        return cleanUpRecorded(stateDir, Files::delete);
    }

    static List<String> cleanUpRecorded(Path stateDir, Rmdir rmdir) {
        Path file = stateDir.resolve(RECORD);
        List<String> done = new ArrayList<>();
        if (!Files.exists(file)) {
            return done;
        }
        List<Made> made = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file)) {
                String[] f = line.split(" ", 2);
                if (f.length != 2 || !(f[0].equals("sandbox") || f[0].equals("parent")) || !Path.of(f[1]).isAbsolute()) {
                    throw new IOException("unexpected line '" + line + "'");
                }
                made.add(new Made(Path.of(f[1]), f[0].equals("parent")));
            }
        } catch (IOException e) {
            done.add("cannot read the cgroup record " + file + ": " + e.getMessage());
            return done;
        }
        List<String> left = remove(made, rmdir);
        done.addAll(left);
        if (left.isEmpty()) {
            done.add("removed the sandbox's cgroup folders " + made.stream().map(Made::folder).toList());
        }
        return done;
    }
}
