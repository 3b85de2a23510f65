package io.nemu.shim.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import io.nemu.proto.containerd.runtimeoptions.v1.Options;
import org.junit.jupiter.api.Test;

class RuntimeOptionsTest {
    private static Any options(String typeUrl, String configPath) {
        return Any.newBuilder().setTypeUrl(typeUrl)
                .setValue(Options.newBuilder().setConfigPath(configPath).build().toByteString()).build();
    }

    @Test
    void configPathFromStdinOptions() throws Exception {
        Any opts = options("runtimeoptions.v1.Options", "/etc/nemu/c.toml");
        assertEquals("/etc/nemu/c.toml", RuntimeOptions.configPathFromStdin(opts.toByteArray(), "p1"));
        assertNull(RuntimeOptions.configPathFromStdin(new byte[0], "p1"));
        assertNull(RuntimeOptions.configPathFromStdin(new byte[] {(byte) 0xff, 1, 2}, "p1"));
    }

    @Test
    void theTypesNamesAndNoOptions() throws Exception {
        assertEquals("/c.toml", RuntimeOptions.configPath(options("type.googleapis.com/runtimeoptions.v1.Options", "/c.toml")));
        assertEquals("/c.toml", RuntimeOptions.configPath(options("cri.runtimeoptions.v1.Options", "/c.toml")));
        assertNull(RuntimeOptions.configPath(options("runtimeoptions.v1.Options", "")));
        assertNull(RuntimeOptions.configPath(null));
        assertNull(RuntimeOptions.configPath(Any.getDefaultInstance()));
    }

    @Test
    void anUnknownTypeIsRefusedWithItsName() throws Exception {
        Any runc = Any.newBuilder().setTypeUrl("containerd.runc.v1.Options")
                .setValue(ByteString.copyFromUtf8("\u0012\u0004runc")).build();
        ConfigException e = assertThrows(ConfigException.class, () -> RuntimeOptions.configPath(runc));
        assertEquals("runtime options of type containerd.runc.v1.Options are not supported by this runtime:"
                + " it reads runtimeoptions.v1.Options (ConfigPath)", e.getMessage());
        assertThrows(ConfigException.class, () -> RuntimeOptions.configPathFromStdin(runc.toByteArray(), "p1"));
        assertThrows(ConfigException.class, () -> RuntimeOptions.configPath(options("x.runtimeoptions.v1.Options", "/c")));
        Any broken = Any.newBuilder().setTypeUrl(RuntimeOptions.TYPE).setValue(ByteString.copyFrom(new byte[] {(byte) 0xff})).build();
        assertThrows(ConfigException.class, () -> RuntimeOptions.configPath(broken));
    }

    @Test
    void containerdsBootstrapParamsOnStdinAreNotOptions() throws Exception {
        // containerd 2.3: BootstrapParams{instance_id = 1, namespace = 2, ...} reads as an Any typed by the id.
        byte[] bootstrap = Any.newBuilder().setTypeUrl("p1").setValue(ByteString.copyFromUtf8("default")).build()
                .toByteArray();
        assertNull(RuntimeOptions.configPathFromStdin(bootstrap, "p1"));
    }
}
