package io.nemu.firmware;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.List;

/**
 * Checks a root image ({@code root.img}) and the initramfs that mounts it against the manifest beside them before
 * a VM uses them: a modified or truncated file fails with its name. Hashing ~490 MB at every pod start would cost
 * seconds, so a verified hash is remembered in {@code cacheDir} keyed by the file's (device, inode, size, mtime,
 * ctime): any write, truncation, replacement or {@code touch} changes one of them (ctime cannot be set back), and
 * the next start hashes the file again.
 */
public final class RootImageCheck {
    private RootImageCheck() {
    }

    /**
     * The guest image whose root image is {@code image}, after checking its root image and root initramfs.
     *
     * @param cacheDir where verified hashes are remembered (made 0700 if missing), e.g. the shim's run folder
     */
    public static GuestImage verify(Path image, Path cacheDir) throws FirmwareException {
        Path abs = image.toAbsolutePath().normalize();
        Path dir = abs.getParent();
        if (!Files.isRegularFile(abs)) {
            throw new FirmwareException("guest root image " + abs + " does not exist or is not a regular file"
                    + " (build it with `nemu image build`)");
        }
        GuestImage img = GuestImage.load(dir);
        String name = abs.getFileName().toString();
        if (img.manifest().output(name).isEmpty() || !GuestImage.ROOT_IMAGE.equals(name)) {
            throw new FirmwareException("guest root image " + abs + " is not the " + GuestImage.ROOT_IMAGE
                    + " listed in " + dir.resolve(Manifest.FILE_NAME) + " (an image built with the agent has one)");
        }
        for (String f : List.of(GuestImage.ROOT_IMAGE, GuestImage.ROOT_INITRD)) {
            Manifest.Output o = img.manifest().output(f).orElseThrow(() -> new FirmwareException(
                    dir.resolve(Manifest.FILE_NAME) + " lists no output " + f));
            checkHash(dir.resolve(f), o, cacheDir);
        }
        return img;
    }

    private static void checkHash(Path file, Manifest.Output o, Path cacheDir) throws FirmwareException {
        try {
            String key = identity(file) + " " + o.sha256();
            Path entry = cacheDir.resolve(Sha256.of(file.toString().getBytes(StandardCharsets.UTF_8)));
            if (Files.isRegularFile(entry) && Files.readString(entry).equals(key)) {
                return;
            }
            String sha = Sha256.of(file);
            if (!sha.equals(o.sha256())) {
                throw new FirmwareException("guest image file " + file + " has sha256 " + sha + " but its manifest"
                        + " says " + o.sha256() + ": it was modified or replaced (rebuild it with `nemu image build`)");
            }
            // The identity after hashing: a write during the hash changes it, and the next start hashes again.
            if (!identity(file).concat(" " + o.sha256()).equals(key)) {
                return;
            }
            createPrivateDir(cacheDir);
            Path tmp = Files.createTempFile(cacheDir, "verified-", ".tmp");
            Files.writeString(tmp, key);
            Files.move(tmp, entry, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (FirmwareException e) {
            throw e;
        } catch (IOException e) {
            throw new FirmwareException("cannot check guest image file " + file + ": " + e.getMessage(), e);
        }
    }

    /** What changes when the file's content can have changed. */
    static String identity(Path file) throws IOException {
        var a = Files.readAttributes(file, "unix:dev,ino,size,lastModifiedTime,ctime");
        return a.get("dev") + " " + a.get("ino") + " " + a.get("size") + " "
                + nanos((FileTime) a.get("lastModifiedTime")) + " " + nanos((FileTime) a.get("ctime"));
    }

    private static long nanos(FileTime t) {
        return t.to(java.util.concurrent.TimeUnit.NANOSECONDS);
    }

    /** The cache folder, readable by root only: an entry there vouches for a file. */
    private static void createPrivateDir(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir);
            Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        }
    }
}
