package io.nemu.vmm.template;

import io.nemu.vmm.PrivateFiles;
import io.nemu.vmm.process.ProcessTools;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The templates kept in one folder (Kata's {@code template_path}; best on a tmpfs, where a template's RAM file
 * is page cache that every clone maps). One sub-folder per {@link TemplateKey#name()}; a template counts only once
 * its state file is there, which is written last. Building a template of a shape removes the stale ones of that
 * shape (clones still running keep their mapping of a removed file). {@link #list} and {@link #remove} are the
 * operator's ({@code nemu template}).
 */
public final class TemplateStore {
    private static final Logger log = LoggerFactory.getLogger(TemplateStore.class);
    private static final String BUILDING = ".building";

    private final Path dir;

    public TemplateStore(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    /** The complete template of {@code key}, if there is one. */
    public Optional<Template> find(TemplateKey key) {
        Template t = new Template(key, dir.resolve(key.name()));
        return Files.isRegularFile(t.stateFile()) && Files.isRegularFile(t.memoryFile()) ? Optional.of(t) : Optional.empty();
    }

    /** Why there is no template of {@code key}: none of its shape, or only stale ones (named). */
    public String whyMissing(TemplateKey key) {
        List<String> others = shapeSiblings(key);
        return others.isEmpty() ? "no template of " + key.shape() + " in " + dir
                : "the templates of " + key.shape() + " in " + dir + " are stale (image or configuration changed): " + others;
    }

    /**
     * Builds the template of {@code key} with {@code builder} unless another process did meanwhile (one builder at
     * a time per key, under a file lock), then removes the stale templates of the same shape.
     */
    public Template obtain(TemplateKey key, Builder builder) throws IOException {
        PrivateFiles.directories(dir);
        try (FileChannel lockFile = FileChannel.open(dir.resolve(key.name() + ".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock ignored = lockFile.lock()) {
            Optional<Template> done = find(key);
            if (done.isPresent()) {
                return done.get();
            }
            Path work = dir.resolve(key.name() + BUILDING);
            ProcessTools.deleteTree(work);
            PrivateFiles.directories(work);
            Path finalDir = dir.resolve(key.name());
            try {
                builder.build(work);
                Files.writeString(work.resolve("key"), key + "\n");
                ProcessTools.deleteTree(finalDir);
                Files.move(work, finalDir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } finally {
                ProcessTools.deleteTree(work);
            }
            for (String stale : shapeSiblings(key)) {
                log.info("removing stale template {}", dir.resolve(stale));
                ProcessTools.deleteTree(dir.resolve(stale));
                Files.deleteIfExists(dir.resolve(stale + ".lock"));
            }
            return find(key).orElseThrow(() -> new IOException("template " + finalDir + " incomplete after its build"));
        }
    }

    /** Every template folder of the store (complete or not; not the folders of builds under way), by name. */
    public List<StoredTemplate> list() throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<StoredTemplate> out = new java.util.ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(Files::isDirectory).filter(p -> !p.getFileName().toString().endsWith(BUILDING))
                    .sorted().toList()) {
                out.add(StoredTemplate.read(p));
            }
        }
        return out;
    }

    /**
     * Removes the template folder {@code name} and its lock, under its lock: refused (an {@link IOException} saying
     * so) while a build of that name holds it. Clones running from it keep their private mapping of its RAM file.
     * Returns false when there is no such template.
     */
    public boolean remove(String name) throws IOException {
        if (name.isEmpty() || name.contains("/") || name.startsWith(".") || name.endsWith(BUILDING)
                || name.endsWith(".lock")) {
            throw new IllegalArgumentException("not a template name: '" + name + "'");
        }
        Path t = dir.resolve(name);
        Path lock = dir.resolve(name + ".lock");
        if (!Files.isDirectory(t) && !Files.exists(lock)) {
            return false;
        }
        try (FileChannel lockFile = FileChannel.open(lock, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock held = tryLock(lockFile);
            if (held == null) {
                throw new IOException("template " + name + " is being built by another process (" + lock
                        + " is locked); remove it once the build is done");
            }
            try (held) {
                ProcessTools.deleteTree(dir.resolve(name + BUILDING)); // a crashed build's leftover
                ProcessTools.deleteTree(t);
                if (Files.exists(t)) {
                    throw new IOException("template " + t + " could not be removed completely");
                }
                Files.deleteIfExists(lock);
            }
        }
        return true;
    }

    /** The lock, or null while another process (or a thread of this one) holds it. */
    private static FileLock tryLock(FileChannel lockFile) throws IOException {
        try {
            return lockFile.tryLock();
        } catch (java.nio.channels.OverlappingFileLockException e) {
            return null;
        }
    }

    /** Other complete templates of the same shape. */
    private List<String> shapeSiblings(TemplateKey key) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith(key.shape() + "-") && !n.equals(key.name()) && !n.endsWith(BUILDING)
                            && !n.endsWith(".lock"))
                    .sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Makes a template's files ({@link Template#MEMORY}, {@link Template#STATE}) in the folder it is given. */
    @FunctionalInterface
    public interface Builder {
        void build(Path into) throws IOException;
    }
}
