package io.nemu.shim.cli.install;

import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Puts a distribution in place for containerd and takes it away again: the tree in the prefix, the shim (and
 * {@code nemu}) linked into containerd's PATH, the runtime's block in containerd's config (a backup of the file
 * kept beside it). Each step says what it changed; run twice, the second run changes nothing.
 */
public final class Installation {
    public static final String SHIM = "containerd-shim-nemu-v2";
    static final List<String> LINKED = List.of(SHIM, "nemu");
    static final String SNIPPET = "share/containerd/containerd-nemu.toml";
    static final String CONFIG = "share/defaults/configuration.toml";
    /** The ConfigPath the snippet names for the default prefix; replaced by the real prefix's. */
    static final String SNIPPET_CONFIG_PATH = "/opt/nemu/" + CONFIG;
    static final String BACKUP_SUFFIX = ".nemu-backup";
    /** Folders of the prefix that hold only what the distribution brings: files it no longer has are removed. */
    private static final List<String> OWNED = List.of("bin", "lib", "jre");
    /** Makes lib/*.jsa for the tree it is given, with the JVM given (packaging's make-cds.sh). */
    static final String MAKE_CDS = "lib/make-cds.sh";

    /**
     * @param source           the distribution to install (the running one's NEMU_HOME)
     * @param prefix           where it goes ({@code /opt/nemu})
     * @param binDir           a folder on containerd's PATH ({@code /usr/local/bin})
     * @param containerdConfig containerd's config.toml
     */
    public record Target(Path source, Path prefix, Path binDir, Path containerdConfig) {
    }

    private final Consumer<String> report;

    public Installation(Consumer<String> report) {
        this.report = report;
    }

    public void install(Target t) throws IOException, InstallException {
        Path source = t.source().toAbsolutePath().normalize();
        Path prefix = t.prefix().toAbsolutePath().normalize();
        if (!Files.isExecutable(source.resolve("bin").resolve(SHIM)) || !Files.isRegularFile(source.resolve(SNIPPET))) {
            throw new InstallException(source + " is not a NEMU distribution (no bin/" + SHIM + " or " + SNIPPET + ")");
        }
        for (String name : LINKED) {
            Path link = t.binDir().toAbsolutePath().resolve(name);
            if (Files.exists(link, LinkOption.NOFOLLOW_LINKS) && !Files.isSymbolicLink(link)) {
                throw new InstallException(link + " exists and is not a link: move it away, or pick another --bin-dir");
            }
        }
        InstallRecord before = InstallRecord.read(prefix);
        boolean inPlace = Files.exists(prefix) && Files.isSameFile(source, prefix);
        int copied = 0;
        if (inPlace) {
            report.accept("distribution: used in place at " + prefix);
        } else {
            copied = copyTree(source, prefix);
        }
        String cdsFor = before != null ? before.cdsFor() : null;
        if (copied > 0 || !prefix.toString().equals(cdsFor)) {
            cdsFor = makeCds(prefix) ? prefix.toString() : null;
        }
        List<String> links = new ArrayList<>();
        for (String name : LINKED) {
            links.add(link(t.binDir().toAbsolutePath().resolve(name), prefix.resolve("bin").resolve(name)).toString());
        }
        Path cfg = t.containerdConfig().toAbsolutePath();
        String current = readOrNull(cfg);
        String snippet = Files.readString(prefix.resolve(SNIPPET), StandardCharsets.UTF_8)
                .replace(SNIPPET_CONFIG_PATH, prefix.resolve(CONFIG).toString());
        String wanted = ContainerdConfigEdit.add(current, snippet);
        boolean ours = current != null && ContainerdConfigEdit.installed(current);
        boolean created = ours && before != null ? before.configCreated() : current == null;
        Path backup = created ? null : cfg.resolveSibling(cfg.getFileName() + BACKUP_SUFFIX);
        if (wanted.equals(current)) {
            report.accept("containerd config: " + cfg + " already runs handler nemu with " + prefix.resolve(CONFIG));
        } else {
            if (!ours && current != null) {
                writeBytes(backup, current, cfg);
                report.accept("containerd config: backup of " + cfg + " in " + backup);
            }
            writeBytes(cfg, wanted, cfg);
            report.accept("containerd config: " + (current == null ? "created " : ours ? "updated the nemu block of "
                    : "added runtime io.containerd.nemu.v2 (CRI handler nemu) to ") + cfg
                    + "; restart containerd to load it (systemctl restart containerd)");
        }
        new InstallRecord(cfg.toString(), created, backup == null ? null : backup.toString(), links, !inPlace,
                cdsFor).write(prefix);
    }

    public void uninstall(Path prefixIn) throws IOException, InstallException {
        Path prefix = prefixIn.toAbsolutePath().normalize();
        InstallRecord r = InstallRecord.read(prefix);
        if (r == null) {
            throw new InstallException("nothing was installed at " + prefix + " (no " + InstallRecord.FILE_NAME
                    + "): give the --prefix of the install");
        }
        Path cfg = Path.of(r.containerdConfig());
        String current = readOrNull(cfg);
        if (current == null || !ContainerdConfigEdit.installed(current)) {
            report.accept("containerd config: " + cfg + (current == null ? " is gone" : " has no nemu block") + ": left alone");
        } else {
            String restored = ContainerdConfigEdit.remove(current);
            Path backup = r.backup() == null ? null : Path.of(r.backup());
            String saved = backup == null ? null : readOrNull(backup);
            if (r.configCreated() && restored.isEmpty()) {
                Files.delete(cfg);
                report.accept("containerd config: removed " + cfg + " (the install created it)");
            } else if (saved != null && saved.equals(restored)) {
                writeBytes(cfg, saved, cfg);
                Files.delete(backup);
                report.accept("containerd config: " + cfg + " restored byte for byte from " + backup + " (removed)");
            } else {
                writeBytes(cfg, restored, cfg);
                report.accept("containerd config: nemu block removed from " + cfg + "; the file changed since the"
                        + " install in other places too" + (saved != null ? ": the backup stays in " + backup : ""));
            }
            report.accept("containerd config: restart containerd to drop the runtime (systemctl restart containerd)");
        }
        for (String l : r.links()) {
            Path link = Path.of(l);
            if (Files.isSymbolicLink(link) && Files.readSymbolicLink(link).startsWith(prefix)) {
                Files.delete(link);
                report.accept("link: removed " + link);
            } else {
                report.accept("link: " + link + " is no longer ours: left alone");
            }
        }
        if (r.copied()) {
            ProcessTools.deleteTree(prefix);
            report.accept("distribution: removed " + prefix);
        } else {
            Files.deleteIfExists(prefix.resolve(InstallRecord.FILE_NAME));
            report.accept("distribution: " + prefix + " was used in place: left there");
        }
    }

    /**
     * The AppCDS archives for the installed class path (an archive made elsewhere does not map: the JVM then starts
     * without it, slower). Uses the JVM this command runs on, the one the launcher picks. A failure costs only start-up
     * time: said, not thrown.
     */
    private boolean makeCds(Path prefix) throws IOException {
        Path script = prefix.resolve(MAKE_CDS);
        if (!Files.isExecutable(script)) {
            report.accept("AppCDS: no " + MAKE_CDS + " in " + prefix + ": the JVM starts without archives");
            return false;
        }
        Path real = prefix.toRealPath(); // the launcher's NEMU_HOME is resolved the same way (readlink -f)
        Path own = real.resolve("jre/bin/java");
        String java = Files.isExecutable(own) ? own.toString() : ProcessHandle.current().info().command().orElse("java");
        Path log = Files.createTempFile("nemu-cds", ".log");
        try {
            Process p = new ProcessBuilder(script.toString(), real.toString(), java).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            boolean ok = p.waitFor() == 0 && Files.isRegularFile(prefix.resolve("lib/nemu.jsa"));
            report.accept("AppCDS: " + (ok ? "archives made for " + prefix + "/lib" : "none made ("
                    + Files.readString(log).strip().replace('\n', ' ') + "): the JVM starts without them"));
            return ok;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** Generated in the prefix by the install, not copied: lib/*.jsa. */
    private static boolean generated(Path rel) {
        return rel.getNameCount() == 2 && rel.getName(0).toString().equals("lib") && rel.toString().endsWith(".jsa");
    }

    /**
     * Copies every file that differs; in the folders the distribution owns, removes files it does not have. Returns
     * how many files it copied.
     */
    private int copyTree(Path source, Path prefix) throws IOException {
        int copied = 0;
        int same = 0;
        Set<Path> wanted = new HashSet<>();
        List<Path> files;
        try (Stream<Path> s = Files.walk(source)) {
            files = s.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)).toList();
        }
        for (Path f : files) {
            Path rel = source.relativize(f);
            if (rel.toString().equals(InstallRecord.FILE_NAME) || generated(rel)) {
                continue;
            }
            Path to = prefix.resolve(rel);
            wanted.add(to);
            if (Files.isRegularFile(to) && Files.size(to) == Files.size(f) && Files.mismatch(f, to) == -1
                    && Files.getPosixFilePermissions(to).equals(Files.getPosixFilePermissions(f))) {
                same++;
                continue;
            }
            Files.createDirectories(to.getParent());
            Files.copy(f, to, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
            copied++;
        }
        int removed = 0;
        for (String owned : OWNED) {
            Path dir = prefix.resolve(owned);
            if (!Files.isDirectory(dir)) {
                continue;
            }
            List<Path> stale;
            try (Stream<Path> s = Files.walk(dir)) {
                stale = s.filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) && !wanted.contains(p)
                        && !generated(prefix.relativize(p))).toList();
            }
            for (Path p : stale) {
                Files.delete(p);
                removed++;
            }
        }
        report.accept("distribution: " + prefix + ": " + copied + " files copied, " + same + " unchanged"
                + (removed > 0 ? ", " + removed + " old ones removed" : ""));
        return copied + removed;
    }

    private Path link(Path link, Path target) throws IOException {
        if (Files.isSymbolicLink(link)) {
            Path was = Files.readSymbolicLink(link);
            if (was.equals(target)) {
                report.accept("link: " + link + " -> " + target + " already");
                return link;
            }
            Files.delete(link);
            Files.createSymbolicLink(link, target);
            report.accept("link: " + link + " -> " + target + " (was -> " + was + ")");
            return link;
        }
        Files.createDirectories(link.getParent());
        Files.createSymbolicLink(link, target);
        report.accept("link: " + link + " -> " + target);
        return link;
    }

    /** The file's bytes as ISO-8859-1 text (one char per byte, so writing it back gives the same bytes), or null. */
    private static String readOrNull(Path f) throws IOException {
        try {
            return Files.readString(f, StandardCharsets.ISO_8859_1);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** Replaces {@code f} at once (a temporary file moved over it), with the permissions {@code like} has. */
    private static void writeBytes(Path f, String text, Path like) throws IOException {
        Files.createDirectories(f.toAbsolutePath().getParent());
        Path tmp = f.resolveSibling(f.getFileName() + ".nemu-tmp");
        Files.writeString(tmp, text, StandardCharsets.ISO_8859_1);
        Set<PosixFilePermission> mode = Files.exists(like) ? Files.getPosixFilePermissions(like)
                : Set.copyOf(Arrays.asList(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE,
                PosixFilePermission.GROUP_READ, PosixFilePermission.OTHERS_READ));
        Files.setPosixFilePermissions(tmp, mode);
        Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
