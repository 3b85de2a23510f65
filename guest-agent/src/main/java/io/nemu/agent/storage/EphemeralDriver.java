package io.nemu.agent.storage;

import io.nemu.proto.kata.Storage;
import java.nio.file.Path;

/** {@code ephemeral}: a tmpfs of the guest (the pod's /dev/shm, emptyDir volumes in memory). */
final class EphemeralDriver implements StorageDriver {

    @Override
    public Path mount(Storage s, String where) {
        return StorageMount.mount(s, where, s.getMountPoint(), StorageMount.orDefault(s.getSource(), "tmpfs"),
                StorageMount.orDefault(s.getFstype(), "tmpfs"), s.getShared());
    }
}
