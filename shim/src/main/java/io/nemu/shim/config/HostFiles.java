package io.nemu.shim.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The host files a configuration names (QEMU, virtiofsd, the guest kernel and its root image or initramfs), checked before
 * anything runs. {@code containerd-shim-nemu-v2 start} and {@code nemu check} both say what is wrong in these
 * words, naming the file and the key, so an operator reads the same sentence in ctr's error and in the check.
 */
public final class HostFiles {
    private static final String GUEST_MANIFEST = "manifest.json";

    /** One bad file: the key that names it and the sentence for the operator. */
    public record Problem(String key, String message) {
    }

    private HostFiles() {
    }

    /** Every problem, in the order the keys appear in the file; empty when all are there. */
    public static List<Problem> check(RuntimeConfig c) {
        List<Problem> out = new ArrayList<>();
        RuntimeConfig.Hypervisor h = c.hypervisor();
        executable(c, "path", h.path(), "install QEMU (apt-get install qemu-system-x86) or name its binary here")
                .ifPresent(out::add);
        guestFile(c, "kernel", h.kernel()).ifPresent(out::add);
        if (h.image() != null) {
            guestFile(c, "image", h.image()).ifPresent(out::add);
        } else {
            guestFile(c, "initrd", h.initrd()).ifPresent(out::add);
        }
        if (h.sharedFs() == RuntimeConfig.SharedFs.VIRTIO_FS) {
            executable(c, "virtio_fs_daemon", h.virtioFsDaemon(),
                    "install virtiofsd (apt-get install qemu-system-common) or name its binary here").ifPresent(out::add);
        }
        return out;
    }

    /** The first problem as a {@link ConfigException} (its key named), if any. */
    public static void require(RuntimeConfig c) throws ConfigException {
        List<Problem> p = check(c);
        if (!p.isEmpty()) {
            throw new ConfigException(p.get(0).key(), p.get(0).message());
        }
    }

    private static Optional<Problem> executable(RuntimeConfig c, String key, Path p, String remedy) {
        if (!Files.exists(p)) {
            return problem(c, key, p + " does not exist: " + remedy);
        }
        if (!Files.isRegularFile(p) || !Files.isExecutable(p)) {
            return problem(c, key, p + " is not an executable file: " + remedy);
        }
        return Optional.empty();
    }

    private static Optional<Problem> guestFile(RuntimeConfig c, String key, Path p) {
        if (!Files.exists(p)) {
            Path dir = p.toAbsolutePath().getParent();
            String why = dir != null && !Files.isRegularFile(dir.resolve(GUEST_MANIFEST))
                    ? "there is no guest image in " + dir + " (build it with `nemu image build`)"
                    : "the guest image in " + dir + " is incomplete (rebuild it with `nemu image build`)";
            return problem(c, key, p + " does not exist: " + why);
        }
        // Files.isReadable is true for root whatever the mode: open it.
        try (InputStream in = Files.newInputStream(p)) {
            if (in.read() < 0) {
                return problem(c, key, p + " is empty (rebuild the guest image with `nemu image build`)");
            }
        } catch (IOException e) {
            return problem(c, key, p + " cannot be read: " + e.getMessage());
        }
        return Optional.empty();
    }

    private static Optional<Problem> problem(RuntimeConfig c, String key, String what) {
        String full = "hypervisor.qemu." + key;
        return Optional.of(new Problem(full, c.source() + ": " + full + " = " + what));
    }
}
