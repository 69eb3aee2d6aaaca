export default function () {
  return 'loaded lazily';
}
