package io.nemu.shim.sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A sandbox on this host as its state folder shows it ({@code <root>/sandboxes/<id>}): its {@link SandboxRecord}
 * and whether the daemon and QEMU it recorded still run. What {@code nemu ps} lists and {@code nemu exec} looks up.
 *
 * @param record  empty while the VM has not started yet (or the record cannot be read: {@code problem} says why)
 * @param daemon  the shim daemon's recorded pid, if any
 * @param qemu    QEMU's recorded pid, if any
 */
public record HostSandbox(SandboxPaths paths, Optional<SandboxRecord> record, Optional<PidFile> daemon,
                          Optional<PidFile> qemu, String problem) {

    /** What the recorded processes say about the sandbox. */
    public enum Status {
        /** The daemon runs and so does the VM. */
        RUNNING("running"),
        /** The daemon runs, the VM has not started (or has no record yet). */
        STARTING("starting"),
        /** The daemon runs, the VM is gone (the sandbox died or is being deleted). */
        VM_STOPPED("VM stopped"),
        /** The daemon is gone: leftovers that containerd's delete (the shim's {@code delete} command) removes. */
        STALE("stale: daemon dead");

        private final String text;

        Status(String text) {
            this.text = text;
        }

        @Override
        public String toString() {
            return text;
        }
    }

    public String id() {
        return paths.sandboxId();
    }

    public Status status() {
        if (daemon.isEmpty() || !daemon.get().runs()) {
            return Status.STALE;
        }
        if (record.isEmpty()) {
            return Status.STARTING;
        }
        return qemu.isPresent() && qemu.get().runs() ? Status.RUNNING : Status.VM_STOPPED;
    }

    /** Every sandbox folder under {@code root}, sorted by id; an unreadable one is listed with its problem. */
    public static List<HostSandbox> list(Path root) throws IOException {
        Path dir = root.resolve("sandboxes");
        List<HostSandbox> all = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return all;
        }
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(Files::isDirectory).sorted().toList()) {
                all.add(of(new SandboxPaths(root, p.getFileName().toString())));
            }
        }
        return all;
    }

    /** The sandbox whose id is {@code idOrPrefix} or starts with it (as crictl takes ids). */
    public static HostSandbox find(Path root, String idOrPrefix) throws IOException {
        if (idOrPrefix.isEmpty()) {
            throw new IllegalArgumentException("an empty sandbox id");
        }
        List<HostSandbox> all = list(root);
        for (HostSandbox s : all) {
            if (s.id().equals(idOrPrefix)) {
                return s;
            }
        }
        List<HostSandbox> matches = all.stream().filter(s -> s.id().startsWith(idOrPrefix)).toList();
        if (matches.size() == 1) {
            return matches.get(0);
        }
        throw new IllegalArgumentException(matches.isEmpty()
                ? "no sandbox '" + idOrPrefix + "' on this host (under " + root.resolve("sandboxes") + "; `nemu ps` lists them)"
                : "'" + idOrPrefix + "' names " + matches.size() + " sandboxes: "
                + String.join(", ", matches.stream().map(HostSandbox::id).toList()));
    }

    static HostSandbox of(SandboxPaths paths) {
        Optional<SandboxRecord> record = Optional.empty();
        String problem = "";
        try {
            record = SandboxRecord.read(paths.state());
        } catch (IOException e) {
            problem = e.getMessage();
        }
        return new HostSandbox(paths, record, PidFile.read(paths.pidFile(SandboxPaths.DAEMON)),
                PidFile.read(paths.pidFile("qemu")), problem);
    }
}
