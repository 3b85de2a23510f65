package io.nemu.shim.config;

/** A configuration.toml that cannot be used; the message names the file and the key. */
public final class ConfigException extends Exception {
    private final String key;

    public ConfigException(String key, String message) {
        super(message);
        this.key = key;
    }

    public ConfigException(String key, String message, Throwable cause) {
        super(message, cause);
        this.key = key;
    }

    /** The dotted key at fault ({@code hypervisor.qemu.default_vcpus}), or null for the file as a whole. */
    public String key() {
        return key;
    }
}
