package io.nemu.shim.sandbox;

import java.io.IOException;
import java.nio.file.Path;

/** The folder virtiofsd exports, made a shared mount: see {@link SharedFs#prepare}, where it is done. */
public final class SharedDir {
    private SharedDir() {
    }

    public static void prepare(Path dir) throws IOException {
        SharedFs.prepare(dir);
    }
}
