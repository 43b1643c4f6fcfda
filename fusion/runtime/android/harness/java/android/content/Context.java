package android.content;

/** Stand-in for android.content.Context: the methods the runtime calls. */
public abstract class Context {
    public abstract android.content.res.AssetManager getAssets();

    public abstract String getPackageName();

    public abstract android.content.pm.PackageManager getPackageManager();

    public abstract android.content.pm.ApplicationInfo getApplicationInfo();

    public abstract ContentResolver getContentResolver();

    public abstract void sendBroadcast(Intent intent);
}
