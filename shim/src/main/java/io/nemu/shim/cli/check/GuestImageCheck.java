package io.nemu.shim.cli.check;

import io.nemu.firmware.FirmwareException;
import io.nemu.firmware.GuestImage;
import io.nemu.firmware.Manifest;
import io.nemu.shim.config.HostFiles;
import io.nemu.shim.config.RuntimeConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The guest image the configuration boots: kernel and initramfs present, and, when they are an image of
 * {@code nemu image build}, every file matching its manifest (size and sha256).
 */
final class GuestImageCheck {
    private GuestImageCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        if (c.config() == null) {
            return List.of();
        }
        RuntimeConfig.Hypervisor h = c.config().hypervisor();
        Path root = h.image() != null ? h.image() : h.initrd();
        String rootKey = h.image() != null ? "image" : "initrd";
        for (String key : List.of("hypervisor.qemu.kernel", "hypervisor.qemu." + rootKey)) {
            Optional<HostFiles.Problem> p = c.fileProblem(key);
            if (p.isPresent()) {
                return List.of(CheckResult.fail("guest image", p.get().message(),
                        "nemu image build (or correct the path in the configuration)"));
            }
        }
        Path dir = h.kernel().toAbsolutePath().getParent();
        if (!Files.isRegularFile(dir.resolve(Manifest.FILE_NAME))) {
            return List.of(CheckResult.warn("guest image", "kernel " + h.kernel() + ", " + rootKey + " " + root
                    + ": not checked, no " + Manifest.FILE_NAME + " beside them (not an image of `nemu image build`)",
                    null));
        }
        try {
            GuestImage image = GuestImage.loadVerified(dir);
            Path imageRoot = h.image() != null ? image.rootImage().orElse(null) : image.initrd();
            if (!image.kernel().equals(h.kernel()) || !root.equals(imageRoot)) {
                return List.of(CheckResult.warn("guest image", dir + " holds " + image.kernel().getFileName() + " and "
                        + (imageRoot == null ? "no root image" : imageRoot.getFileName()) + " but the configuration boots "
                        + h.kernel() + ", " + root, "point kernel and " + rootKey + " at the image's files"));
            }
            return List.of(CheckResult.pass("guest image", dir + ": kernel " + image.kernelRelease()
                    + ", every file matches " + Manifest.FILE_NAME));
        } catch (FirmwareException e) {
            return List.of(CheckResult.fail("guest image", e.getMessage(), "nemu image build"));
        }
    }
}
