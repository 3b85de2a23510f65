package io.nemu.agent.storage;

import io.nemu.agent.AgentException;
import io.nemu.proto.kata.Storage;
import java.nio.file.Path;

/**
 * {@code 9p}, {@code overlayfs} and a storage naming no driver: a mount of the filesystem type the request
 * gives, which it must give.
 */
final class FsTypeDriver implements StorageDriver {

    @Override
    public Path mount(Storage s, String where) {
        if (s.getFstype().isEmpty()) {
            throw AgentException.invalid(where + ".fstype is empty");
        }
        return StorageMount.mount(s, where, s.getMountPoint(), s.getSource(), s.getFstype(), s.getShared());
    }
}
