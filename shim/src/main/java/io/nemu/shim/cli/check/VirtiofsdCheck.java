package io.nemu.shim.cli.check;

import io.nemu.shim.config.HostFiles;
import io.nemu.shim.config.RuntimeConfig;
import java.util.List;
import java.util.Optional;

/** virtiofsd, which shares container file systems with the guest (shared_fs = "virtio-fs"). */
final class VirtiofsdCheck {
    private VirtiofsdCheck() {
    }

    static List<CheckResult> run(CheckContext c) {
        if (c.config() == null) {
            return List.of();
        }
        RuntimeConfig.Hypervisor h = c.config().hypervisor();
        if (h.sharedFs() != RuntimeConfig.SharedFs.VIRTIO_FS) {
            return List.of(CheckResult.warn("virtiofsd", "not used: shared_fs = \"none\"",
                    "containers need shared_fs = \"virtio-fs\" for their root file systems"));
        }
        Optional<HostFiles.Problem> missing = c.fileProblem("hypervisor.qemu.virtio_fs_daemon");
        if (missing.isPresent()) {
            return List.of(CheckResult.fail("virtiofsd", missing.get().message(),
                    "apt-get install qemu-system-common, or set [hypervisor.qemu] virtio_fs_daemon"));
        }
        return List.of(CheckResult.pass("virtiofsd", h.virtioFsDaemon() + " "
                + HostRoot.firstLine(List.of(h.virtioFsDaemon().toString(), "--version"))));
    }
}
