package io.nemu.agent.storage;

import io.nemu.contract.GuestContract;
import io.nemu.proto.kata.Storage;
import java.nio.file.Path;

/**
 * {@code virtio-fs} (also spelled {@code virtiofs}): the pod's shared folder, tag and mount point defaulting
 * to the guest contract's. Mounted once per pod: a second request for a mounted share changes nothing.
 */
final class VirtioFsDriver implements StorageDriver {

    private final Path sharedDir;

    VirtioFsDriver(Path sharedDir) {
        this.sharedDir = sharedDir;
    }

    @Override
    public Path mount(Storage s, String where) {
        return StorageMount.mount(s, where, StorageMount.orDefault(s.getMountPoint(), sharedDir.toString()),
                StorageMount.orDefault(s.getSource(), GuestContract.SHARED_FS_TAG),
                StorageMount.orDefault(s.getFstype(), "virtiofs"), true);
    }
}
