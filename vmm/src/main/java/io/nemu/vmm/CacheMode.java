package io.nemu.vmm;

/** virtiofsd cache mode (its {@code -o cache=} values). */
public enum CacheMode {
    AUTO, ALWAYS, NONE;

    public String option() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    public static CacheMode parse(String s) {
        for (CacheMode m : values()) {
            if (m.option().equals(s)) {
                return m;
            }
        }
        throw new VmConfigException("sharedCache", "'" + s + "' is not one of auto, always, none");
    }
}
