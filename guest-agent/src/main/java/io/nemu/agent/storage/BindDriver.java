package io.nemu.agent.storage;

import io.nemu.proto.kata.Storage;
import java.nio.file.Path;

/** {@code bind}: the source mounted as the request says; the options ({@code bind}, {@code ro}) do the work. */
final class BindDriver implements StorageDriver {

    @Override
    public Path mount(Storage s, String where) {
        return StorageMount.mount(s, where, s.getMountPoint(), s.getSource(), s.getFstype(), s.getShared());
    }
}
