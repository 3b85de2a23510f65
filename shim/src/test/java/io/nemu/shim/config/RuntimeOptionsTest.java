package io.nemu.shim.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.protobuf.Any;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import org.junit.jupiter.api.Test;

class RuntimeOptionsTest {
    @Test
    void configPathFromStdinOptions() {
        Any opts = Any.newBuilder().setTypeUrl("runtimeoptions.v1.Options")
                .setValue(Options.newBuilder().setConfigPath("/etc/nemu/c.toml").build().toByteString()).build();
        assertEquals("/etc/nemu/c.toml", RuntimeOptions.configPathFromStdin(opts.toByteArray()));
        assertEquals(null, RuntimeOptions.configPathFromStdin(new byte[0]));
        assertEquals(null, RuntimeOptions.configPathFromStdin(new byte[] {(byte) 0xff, 1, 2}));
        assertEquals(null, RuntimeOptions.configPath(Any.newBuilder().setTypeUrl("other.Type").build()));
    }
}
