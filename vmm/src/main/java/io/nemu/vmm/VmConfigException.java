package io.nemu.vmm;

/** A {@link VmConfig} value is wrong; {@link #field()} names it. */
public final class VmConfigException extends VmException {
    private final String field;

    public VmConfigException(String field, String problem) {
        super("VM config field '" + field + "': " + problem);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
