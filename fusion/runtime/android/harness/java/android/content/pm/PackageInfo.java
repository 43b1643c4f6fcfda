package android.content.pm;

/** Stand-in for android.content.pm.PackageInfo. */
public class PackageInfo {
    public String packageName;
    public Signature[] signatures;
}
