package io.nemu.firmware;

import io.nemu.contract.GuestContract;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A built guest image: the directory written by {@link ImageBuilder}, checked against its manifest.
 *
 * @param dir              the image directory
 * @param kernel           uncompressed kernel ({@code vmlinux}, ELF with a PVH entry): QEMU's {@code -kernel}
 * @param kernelCompressed the Debian bzImage ({@code vmlinuz}), for firmware (OVMF) boots
 * @param initrd           the initramfs (newc cpio, compressed as {@link Manifest#compression()})
 * @param kernelRelease    {@code uname -r} of the guest kernel; the guest prints it in its ready line
 * @param manifest         everything else the manifest records
 */
public record GuestImage(Path dir, Path kernel, Path kernelCompressed, Path initrd, String kernelRelease,
                         Manifest manifest) {

    public static final String VMLINUX = "vmlinux";
    public static final String VMLINUZ = "vmlinuz";
    public static final String INITRD = "initramfs.img";
    /** The read-only root (erofs) of an image with the agent; booted with {@link #ROOT_INITRD}. */
    public static final String ROOT_IMAGE = "root.img";
    /** The small initramfs that loads the drivers and mounts {@link #ROOT_IMAGE} ({@code root=} on the command line). */
    public static final String ROOT_INITRD = "root-initrd.img";

    /** The line the guest's /init prints on the console once it is up: {@code NEMU-GUEST-READY <release>}. */
    public static final String READY_MARKER = "NEMU-GUEST-READY";
    /** Printed after the {@code nemu.fsprobe=1} probe wrote its file to the shared directory. */
    public static final String FSPROBE_MARKER = "NEMU-FSPROBE-DONE";
    /** virtio-fs tag /init mounts for the probe, and where (the guest contract's values). */
    public static final String SHARED_FS_TAG = GuestContract.SHARED_FS_TAG;
    public static final String SHARED_FS_MOUNT = GuestContract.SHARED_DIR;

    public GuestImage {
        Objects.requireNonNull(dir, "dir");
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(kernelCompressed, "kernelCompressed");
        Objects.requireNonNull(initrd, "initrd");
        Objects.requireNonNull(kernelRelease, "kernelRelease");
        Objects.requireNonNull(manifest, "manifest");
    }

    /** The root image, if this image has one (images with the agent do). */
    public java.util.Optional<Path> rootImage() {
        return manifest.output(ROOT_IMAGE).map(o -> dir.resolve(ROOT_IMAGE));
    }

    /** The initramfs that mounts {@link #rootImage()}; present with it. */
    public java.util.Optional<Path> rootInitrd() {
        return manifest.output(ROOT_INITRD).map(o -> dir.resolve(ROOT_INITRD));
    }

    /** The ready line as the guest prints it. */
    public String readyLine() {
        return READY_MARKER + " " + kernelRelease;
    }

    /** Loads and checks an image: every output exists, is a readable regular file and has its recorded size. */
    public static GuestImage load(Path dir) throws FirmwareException {
        return load(dir, false);
    }

    /** As {@link #load(Path)}, and also compares every file's sha256 with the manifest (reads ~80 MB). */
    public static GuestImage loadVerified(Path dir) throws FirmwareException {
        return load(dir, true);
    }

    private static GuestImage load(Path dir, boolean verifyHashes) throws FirmwareException {
        if (!Files.isDirectory(dir)) {
            throw new FirmwareException("guest image directory " + dir + " does not exist"
                    + " (build one with `nemu image build`)");
        }
        Manifest m = Manifest.read(dir);
        for (String required : new String[] {VMLINUX, VMLINUZ, INITRD}) {
            if (m.output(required).isEmpty()) {
                throw new FirmwareException(dir.resolve(Manifest.FILE_NAME) + " lists no output " + required);
            }
        }
        for (Manifest.Output o : m.outputs()) {
            check(dir, o, verifyHashes);
        }
        return new GuestImage(dir, dir.resolve(VMLINUX), dir.resolve(VMLINUZ), dir.resolve(INITRD),
                m.kernelRelease(), m);
    }

    private static void check(Path dir, Manifest.Output o, boolean verifyHash) throws FirmwareException {
        Path f = dir.resolve(o.name()).normalize();
        if (!f.startsWith(dir.normalize())) {
            throw new FirmwareException("manifest output name " + o.name() + " points outside " + dir);
        }
        if (!Files.exists(f, LinkOption.NOFOLLOW_LINKS)) {
            throw new FirmwareException("guest image file " + f + " is missing (listed in the manifest)");
        }
        if (!Files.isRegularFile(f)) {
            throw new FirmwareException("guest image file " + f + " is not a regular file");
        }
        long size;
        try (InputStream in = Files.newInputStream(f)) {
            // Opening proves readability; Files.isReadable ignores that root bypasses mode bits only sometimes.
            size = Files.size(f);
            if (verifyHash) {
                String sha = Sha256.of(in);
                if (!sha.equals(o.sha256())) {
                    throw new FirmwareException("guest image file " + f + " has sha256 " + sha
                            + " but the manifest says " + o.sha256() + " (rebuild the image)");
                }
            }
        } catch (FirmwareException e) {
            throw e;
        } catch (IOException e) {
            throw new FirmwareException("guest image file " + f + " is not readable: " + e.getMessage(), e);
        }
        if (size != o.size()) {
            throw new FirmwareException("guest image file " + f + " has " + size + " bytes but the manifest says "
                    + o.size() + " (truncated or replaced; rebuild the image)");
        }
    }

}
