package io.nemu.vmm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Folders, files and sockets only their owner (root) may use: 0700 folders, 0600 files and sockets. Java
 * cannot set a umask per thread, so what a socket's creator makes with the process umask is tightened right
 * after; the 0700 folder around it closes that gap (and protects sockets QEMU and virtiofsd make themselves).
 */
public final class PrivateFiles {
    public static final Set<PosixFilePermission> DIR = PosixFilePermissions.fromString("rwx------");
    public static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-------");
    private static final FileAttribute<Set<PosixFilePermission>> DIR_ATTR = PosixFilePermissions.asFileAttribute(DIR);
    private static final FileAttribute<Set<PosixFilePermission>> FILE_ATTR = PosixFilePermissions.asFileAttribute(FILE);

    private PrivateFiles() {
    }

    /**
     * Creates {@code dir} and its missing parents 0700; an existing {@code dir} is made 0700 too (parents that
     * existed keep their mode). Returns {@code dir}.
     */
    public static Path directories(Path dir) throws IOException {
        Files.createDirectories(dir, DIR_ATTR);
        Files.setPosixFilePermissions(dir, DIR);
        return dir;
    }

    /** Creates an empty 0600 file at {@code file}, replacing what was there. */
    public static Path newFile(Path file) throws IOException {
        Files.deleteIfExists(file);
        return Files.createFile(file, FILE_ATTR);
    }

    /** An empty 0600 file at {@code file} unless one exists (whose mode is then made 0600). */
    public static Path file(Path file) throws IOException {
        if (!Files.exists(file)) {
            try {
                return Files.createFile(file, FILE_ATTR);
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // made meanwhile: tighten it below
            }
        }
        return restrict(file);
    }

    /** Makes an existing file or socket 0600. */
    public static Path restrict(Path file) throws IOException {
        Files.setPosixFilePermissions(file, FILE);
        return file;
    }

    /** The permission bits of {@code path} itself (a link is not followed), as {@code ls} shows them: rwx------. */
    public static String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }

    /** {@link #restrict} for a file that another process may already have removed. */
    public static void restrictIfExists(Path file) throws IOException {
        try {
            restrict(file);
        } catch (java.nio.file.NoSuchFileException gone) {
            // nothing to protect
        }
    }
}
